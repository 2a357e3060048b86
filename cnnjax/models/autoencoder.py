"""A convolutional autoencoder: strided convs down to a dense code, transposed convs back up.

Default (`autoencoder`, 28x28x1 such as MNIST / Fashion-MNIST, `features=(32, 64)`, `latent_dim=32`):

  encoder_convs_0  conv 32@3x3/2 SAME + ReLU      (N, 28, 28, 1)  -> (N, 14, 14, 32)     320 params
  encoder_convs_1  conv 64@3x3/2 SAME + ReLU      (N, 14, 14, 32) -> (N, 7, 7, 64)    18,496
  latent           dense 3136 -> 32 (the code)    (N, 3136)       -> (N, 32)         100,384
  expand           dense 32 -> 3136 + ReLU        (N, 32)         -> (N, 7, 7, 64)   103,488
  decoder_convs_0  conv-transpose 32@3x3/2 + ReLU (N, 7, 7, 64)   -> (N, 14, 14, 32)  18,464
  decoder_convs_1  conv-transpose 1@3x3/2         (N, 14, 14, 32) -> (N, 28, 28, 1)      289
  sigmoid (or the logits with `logits=True`, for a binary cross-entropy on logits)
                                                                            total    241,441

Each encoder conv halves the image (so `input_size` must be divisible by 2 ** len(features)), and the decoder
mirrors the encoder's widths, ending with `out_channels` maps. 32x32 colour images: `input_size=(32, 32),
out_channels=3`. `encode` and `decode` are methods: `model.apply(variables, x, method='encode')`.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.checks import checked_input
from cnnjax.models.options import Count, Counts, ImageSize
from cnnjax.models.outputs import OutputSpec
from cnnjax.models.registry import register


class ConvAutoencoder(nn.Module):
    """(N, *input_size, C) -> (N, *input_size, out_channels) reconstruction, through a (N, latent_dim) code.

    Attributes:
      out_channels: channels of the reconstruction (the input's channels, for a plain autoencoder).
      input_size: (H, W) of the images; the decoder rebuilds this size from the code.
      features: widths of the stride-2 encoder convs (the decoder uses them in reverse).
      latent_dim: size of the dense code.
      logits: return the decoder's logits instead of sigmoid(logits) in [0, 1].
    """

    outputs: ClassVar[OutputSpec] = OutputSpec("reconstruction")

    out_channels: Count = 1
    input_size: ImageSize = (28, 28)
    features: Counts = (32, 64)
    latent_dim: Count = 32
    logits: bool = False

    def setup(self):
        scale = 2 ** len(self.features)
        if len(self.input_size) != 2 or any(n % scale for n in self.input_size):
            raise ValueError(
                f"input_size: expected (H, W) divisible by {scale} (one halving per encoder conv), "
                f"got {self.input_size!r}"
            )
        self.code_shape = (self.input_size[0] // scale, self.input_size[1] // scale, self.features[-1])
        self.encoder_convs = [cnn.Conv(f, 3, stride=2, padding="SAME") for f in self.features]
        self.flatten = cnn.Flatten()
        self.latent = cnn.Dense(self.latent_dim)
        self.expand = cnn.Dense(self.code_shape[0] * self.code_shape[1] * self.code_shape[2])
        widths = (*reversed(self.features[:-1]), self.out_channels)
        self.decoder_convs = [cnn.ConvTranspose(f, 3, stride=2, padding="SAME") for f in widths]

    def encode(self, x: jax.Array) -> jax.Array:
        """(N, H, W, C) images -> (N, latent_dim) codes."""
        if tuple(x.shape[1:3]) != tuple(self.input_size):
            raise ValueError(f"x: expected images of size {tuple(self.input_size)} (input_size), got shape {x.shape}")
        for conv in self.encoder_convs:
            x = F.relu(conv(x))
        return self.latent(self.flatten(x))

    def decode(self, z: jax.Array) -> jax.Array:
        """(N, latent_dim) codes -> (N, H, W, out_channels) images in [0, 1] (or logits)."""
        x = F.relu(self.expand(z)).reshape(z.shape[0], *self.code_shape)
        for conv in self.decoder_convs[:-1]:
            x = F.relu(conv(x))
        x = self.decoder_convs[-1](x)
        return x if self.logits else F.sigmoid(x)

    @checked_input
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        return self.decode(self.encode(x))


register(
    "autoencoder",
    ConvAutoencoder,
    input_shape=(28, 28, 1),
    description="convolutional autoencoder, 28x28x1 -> 32-d code -> 28x28x1",
)
