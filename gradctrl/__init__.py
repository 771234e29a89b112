"""GradCtrl: gradient-based multi-directional controls on a StyleGAN2 latent space."""
from .errors import UserError
