"""Face editors. ``contract.py`` is what the video pipeline asks of an editor; one module per
editor (``none``, ``cvae``, ``diffusion``); what several share is written once (``shared``: model
space and the attribute pass, ``transfer``: carrying a model-space edit onto the sharp crop,
``models``: loading, ``attributes``: names, regions and calibration); ``registry`` maps each
``--method`` to its editor and builds the one a command asked for."""
