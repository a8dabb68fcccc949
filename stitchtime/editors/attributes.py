"""Friendly attribute names -> CelebA attributes (with the sign that means "more of it")."""

from __future__ import annotations

from dataclasses import dataclass

from stitchtime.config import Method, Region


@dataclass(frozen=True)
class Attribute:
    name: str  # what users type: smile, age, ...
    celeba: str  # the model's attribute
    sign: float  # +1: strength > 0 adds the CelebA attribute; -1: it removes it (age = less Young)
    help: str
    # Where the edit may act (stitchtime.config.REGION_MASKS): the face with its forehead, the head
    # with the hair, the lower face (cheeks, mouth, chin) or the eyes (forehead to two-thirds down the nose).
    region: Region = Region.face
    # Strength 1 moves the model's CelebA attribute input this many units towards present (gain_on)
    # or absent (gain_off); 1.0 goes exactly there, more extrapolates. Chosen on the CelebA test
    # split with the shipped cVAE and an independent judge classifier (BENCHMARKS.md, "Condition
    # gain per attribute"): the smallest gain at which most edited faces read as edited, so the
    # face is changed no more than needed.
    gain_on: float = 1.5
    gain_off: float = 1.5
    # The edit method "auto" picks: cond (the cVAE's attribute input) or diffusion (DDIM
    # inversion with the shipped DDPM), whichever measured better on the shared clips.
    method: Method = Method.cond
    # The diffusion editor's guidance w at strength 1 (stitchtime.editors.diffusion): how far the
    # regenerated face is pushed from its own attributes towards the edited ones. Read off
    # benchmarks/diffusion_guidance.py (BENCHMARKS.md, "Diffusion edit guidance per attribute"):
    # the smallest w at which most test faces read as edited.
    guidance: float = 6.0
    # The geometry editor (stitchtime.editors.geometry): strength 1 moves the landmarks this many
    # times the displacement CelebA's label makes (the mean smiling-vs-not change, which includes
    # faint smiles). 2.0: the corners lift by about 0.16 and the mouth widens by about 0.27
    # inter-ocular distances on a face without the attribute, read as a smile at a glance on the
    # shared clips (BENCHMARKS.md "Geometry smile"). The skin's shading (stitchtime.editors.shading)
    # is the average face's difference already, so it is laid on without this gain.
    geometry_gain: float = 2.0
    # The colour editor (stitchtime.editors.colour): strength 1 changes each part's colour (the lips;
    # for makeup also the lash lines) this many times the difference CelebA's label makes there
    # (women with it against women without: Lab L -3.0, a +4.5, b +0.7 on the lips for lipstick, a
    # mean over faint and bold lipsticks alike). 2.0 reads as lipstick at a glance on the shared
    # clips (BENCHMARKS.md "Lipstick on the shared clips").
    colour_gain: float = 2.0

    def gain(self, celeba_strength: float) -> float:
        """The gain for a strength already signed for the CelebA attribute (> 0 adds it)."""
        return self.gain_on if celeba_strength >= 0 else self.gain_off


ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("smile", "Smiling", 1.0, "smiling", Region.lower, method=Method.geometry, guidance=4.0),
        Attribute(
            "age", "Young", -1.0, "older (negative: younger)", gain_off=2.0, method=Method.diffusion, guidance=12.0
        ),
        Attribute(
            "glasses",
            "Eyeglasses",
            1.0,
            "eyeglasses (no negative: glasses are not taken off)",
            Region.eyes,
            method=Method.accessory,
        ),
        Attribute(
            "gender",
            "Male",
            1.0,
            "more masculine (negative: more feminine)",
            gain_on=2.5,
            method=Method.diffusion,
            guidance=8.0,
        ),
        Attribute(
            "blond_hair", "Blond_Hair", 1.0, "blond hair (negative: experimental)", Region.head, method=Method.hair
        ),
        Attribute("black_hair", "Black_Hair", 1.0, "black hair", Region.head, method=Method.hair),
        Attribute("brown_hair", "Brown_Hair", 1.0, "brown hair", Region.head, method=Method.hair),
        Attribute("gray_hair", "Gray_Hair", 1.0, "gray hair (negative: experimental)", Region.head, method=Method.hair),
        Attribute("bangs", "Bangs", 1.0, "bangs", Region.head),
        Attribute("beard", "No_Beard", -1.0, "beard", Region.lower, gain_off=2.5),
        Attribute("mustache", "Mustache", 1.0, "mustache", Region.lower),
        Attribute(
            "mouth_open",
            "Mouth_Slightly_Open",
            1.0,
            "mouth slightly open",
            Region.lower,
            gain_on=2.0,
            method=Method.geometry,
            guidance=12.0,
            # CelebA's label parts the lips by 0.123 inter-ocular distances (its slightly open
            # mouths' median gap is 0.127): strength 1 is the average slightly open mouth
            geometry_gain=1.0,
        ),
        # the colour editor's eyeliner and lipstick: strength 1 is twice the mean change CelebA's
        # label makes on each part (women with it against women without), as lipstick's
        Attribute(
            "makeup",
            "Heavy_Makeup",
            1.0,
            "heavy makeup: eyeliner and lipstick (negative: experimental)",
            gain_on=2.5,
            method=Method.colour,
        ),
        Attribute("lipstick", "Wearing_Lipstick", 1.0, "lipstick", Region.lower, method=Method.colour),
        Attribute("bald", "Bald", 1.0, "bald", Region.head),
        Attribute("pale", "Pale_Skin", 1.0, "pale skin"),
    )
}


# Latent edits (cVAE, diffusion) of the shipped 64-px models that, looked at on real clips nobody
# had seen, do not read as the attribute or leave blotches (issue 15's review, full frames at normal
# size): offered only with --experimental, and `stitchtime attrs --experimental` says why. The
# geometry smile and mouth open, the colour editor's lipstick and makeup, the drawn glasses and the hair
# editor's grey and blond hair are the edits this release stands behind.
_LOW_RES = "the 64-px model's edit carries only low frequencies and its colour errors onto the face"
EXPERIMENTAL: dict[str, str] = {
    "smile": "by the cVAE or diffusion: faint, often stretched lips with a moustache-like band",
    "age": "a grey, blotchy lower face or reddish eyelids instead of an older face",
    "gender": "on women an ashen face with copper eye sockets; on men no visible change",
    "glasses": "no glasses appear: a smudged bridge and blurred eye sockets",
    "mouth_open": "by the cVAE or diffusion: the lower face reddens; the mouth interior is not generated",
    "blond_hair": "no colour change; the face only gets softer",
    **{
        a: _LOW_RES
        for a in (
            "black_hair",
            "brown_hair",
            "gray_hair",
            "bangs",
            "beard",
            "mustache",
            "makeup",
            "lipstick",
            "bald",
            "pale",
        )
    },
}
STABLE_METHODS = ("geometry", "colour", "accessory", "hair")  # the methods whose edits are not experimental


# The hair editor darkens as it lightens, but a darkening shows what the hair mask misses: on blond
# hair the bangs and the lengths below the chin keep their colour (one shared clip looks as if she
# wore a dark cap over her blond hair). Lightening dark hair leaves only stray strands dark.
HAIR_EXPERIMENTAL: dict[str, str] = {
    a: "the hair mask's misses show when light hair is darkened: bangs, flyaway strands and the lengths below "
    "the chin keep their colour (a dark cap over blond hair)"
    for a in ("black_hair", "brown_hair")
}


def experimental_reason(attribute: Attribute, method: str) -> str | None:
    """Why editing ``attribute`` by ``method`` with the shipped models is experimental, or None."""
    if method == "hair" and attribute.name in HAIR_EXPERIMENTAL:
        return HAIR_EXPERIMENTAL[attribute.name]
    if method in STABLE_METHODS:
        return None
    return EXPERIMENTAL.get(attribute.name, _LOW_RES)


def resolve(name: str, model_attributes: list[str]) -> Attribute:
    """The attribute a user asked for, if the model can edit it: a friendly name or a
    CelebA name (any case, '-' or '_'). Raises KeyError listing the valid names."""
    key = name.strip().lower().replace("-", "_")
    available = {a.celeba for a in ATTRIBUTES.values()} & set(model_attributes)
    if key in ATTRIBUTES and ATTRIBUTES[key].celeba in model_attributes:
        return ATTRIBUTES[key]
    for celeba in model_attributes:
        if celeba.lower() == key:
            friendly = next((a for a in ATTRIBUTES.values() if a.celeba == celeba), None)
            return friendly or Attribute(celeba.lower(), celeba, 1.0, celeba)
    valid = [a.name for a in ATTRIBUTES.values() if a.celeba in available]
    valid += [c for c in model_attributes if c not in {ATTRIBUTES[v].celeba for v in valid}]
    raise KeyError(f"unknown attribute {name!r}; valid: none, {', '.join(valid)}")


def editable(model_attributes: list[str]) -> list[Attribute]:
    """Attributes the model can edit, friendly ones first."""
    out = [a for a in ATTRIBUTES.values() if a.celeba in model_attributes]
    known = {a.celeba for a in out}
    out += [Attribute(c.lower(), c, 1.0, c) for c in model_attributes if c not in known]
    return out
