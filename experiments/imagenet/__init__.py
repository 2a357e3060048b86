"""ImageNet 2012 recipes, one config file per architecture, each its paper's (see README.md here)."""
