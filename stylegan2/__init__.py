"""StyleGAN2 in TensorFlow 2: NVIDIA's official network pickles, read safely, giving the official outputs."""
from .errors import InputError
