"""Networks, one per file; LightningModules that train them live beside them."""
