"""The agent layer's implementation; the public names are re-exported by ``jujusim.agent``."""
