"""The GAN itself: the recipe (a typed Config and each architecture's defaults), the
networks built from it, and the alternating step that trains them. Built on nanogan.nn alone."""
from .gan import GAN, build_gan
from .models import build_networks
from .recipe import RECIPES, Config, recipe, textbook

__all__ = ["GAN", "RECIPES", "Config", "build_gan", "build_networks", "recipe", "textbook"]
