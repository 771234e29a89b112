"""GradCtrl: gradient-based multi-directional controls on a StyleGAN2 latent space."""
from .classifier import LatentClassifier, load_classifier, save_classifier
from .editing import edit_trajectory, trace_edit
from .errors import UserError

__all__ = ["LatentClassifier", "UserError", "edit_trajectory", "load_classifier", "save_classifier", "trace_edit"]
