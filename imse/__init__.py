"""IMSE: efficient U-Net speech enhancement with inception depthwise convolution and
magnitude-aware linear attention, on one pluggable skeleton shared with MUSE.

    import imse
    loaded = imse.load_model("imse-vb-3.399")
    enhanced = imse.enhance(noisy_16khz, loaded.model)
"""

from imse.enhance import enhance
from imse.frontend import FrontEnd, STFTConfig
from imse.loading import LoadedModel, load_model
from imse.registry import ModelSpec, registry
from imse.unet import ModelConfig, SpeechEnhancementNet

__all__ = [
    "FrontEnd", "LoadedModel", "ModelConfig", "ModelSpec", "STFTConfig", "SpeechEnhancementNet", "enhance",
    "load_model", "registry",
]
