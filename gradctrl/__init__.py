"""GradCtrl: gradient-based multi-directional controls on a StyleGAN2 latent space."""
from .errors import UserError
from .classifier import LatentClassifier, load_classifier, save_classifier
from .editing import edit_trajectory, trace_edit
