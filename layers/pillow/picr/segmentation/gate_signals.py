"""Gate signals where the shape signals of ``picr.segmentation.gate`` are blind: the wrong object, a see-through
product, a glow without an outline, thin parts the mask lost.

The shape signals only see the cutout's own alpha, so a cutout of the wrong object (a large, eye-catching
thing beside a small product) or of a see-through product cut as if it were opaque looks perfectly clean
to them. The signals here compare the cutout with something else: with the model's own first look, with
two more model looks (the photo mirrored; the photo with the kept object hidden: ``picr.segmentation.gate_looks``
takes them) and with the photo's colours around and across the outline. Each is a plain function over numpy
arrays on a reduced grid; none calls the engine. Which of them hold a cutout, and from where, is not decided here:
that is the per-model profile (``picr.segmentation.gate_profile``), fitted on the calibration corpus.

Every signal reads "0 = nothing odd, larger = more doubt", except ``outline_on_edges`` (a share of the
outline that follows an edge in the photo, 1 = all of it). Each has its sentence for the owner in
:data:`SENTENCES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from picr.segmentation.colour import lab as colour_lab
from picr.segmentation.refine import work_size
from picr.segmentation.stats import mask_iou, percentile

SENTENCES = {
    "mirror_disagreement": "The model saw a different shape when the photo was mirrored, so it is guessing "
                           "where the product is.",
    "rival_after_hiding": "Something else in the photo stands out as much as what was kept: with the cut-out "
                          "object hidden, the model picks another object. Check that the right one was cut out.",
    "hidden_peak": "With the cut-out object hidden, the model is still sure it sees something else in the photo. "
                   "Check that the right object was cut out.",
    "hidden_mass": "With the cut-out object hidden, the model still finds a lot in the photo (another object, or a "
                   "busy background). Check that the right object was cut out.",
    "missed_by_cutout": "The model saw more in the photo than the cutout keeps: parts of the product (or "
                        "another object) may be missing.",
    "pair_imbalance": "Two objects of very different sizes were kept; only one of them may be the product.",
    "model_soft_band": "The model itself was unsure where the product ends.",
    "show_through": "The background's colours continue through the product: it may be see-through.",
    "outline_fade_px": "The product's outline fades instead of ending (a glow, flame or smoke).",
    "outline_on_edges": "The cutout's outline does not follow the edges in the photo, so parts may be cut "
                        "off or extra background kept.",
}


@dataclass(frozen=True)
class SignalSettings:
    """Grids and neighbourhoods of the signals, with the reason for each default.

    hole_px 4 (model cells): the kept object is hidden together with 4 cells around it, because the
        model's outline is only known to a cell or two and a soft shadow hugs the product; a rim left
        behind would be found again as "another object".
    rival_margin_px 6 (model cells): objects found within 6 more cells of the hidden area are taken for the
        inpainting's own smear, not for a second object.
    missed_margin_px 4 (model cells): the first look's probability that far from the kept object counts as
        seen-but-not-kept; nearer, it is only the outline's blur.
    colour_long_edge 256: the background's colour field is smooth at the product's scale (it is spread
        over a third of the product's size), so a coarse grid measures it as well as a fine one.
    field_share 0.3: the background behind the product is estimated by spreading the colours around it
        over 0.3 × the product's size: far enough to reach its middle, near enough to keep the
        background's large structure (a horizon, a table edge).
    outline_long_edge 512: the fade and the edge support are read on the gate's own grid (4 px per cell
        at 2000 px), sampled between cells along each outline normal.
    fade_reach_px 40: profiles across the outline run 40 full-resolution px to each side; a sharp edge
        goes from product to background in a few px, a glow over tens.
    max_profiles 1500: outline points sampled for the profiles, spread evenly; the median of 1500 is as
        stable as that of all of them.
    """

    hole_px: int = 4
    rival_margin_px: int = 6
    missed_margin_px: int = 4
    colour_long_edge: int = 256
    field_share: float = 0.3
    outline_long_edge: int = 512
    fade_reach_px: float = 40.0
    max_profiles: int = 1500


DEFAULT_SIGNALS = SignalSettings()


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), _disc(radius)) > 0


def on_grid(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``values`` averaged down (or stretched) to ``size`` (width, height), float32."""
    return cv2.resize(np.asarray(values, np.float32), size, interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------------------------------
# the model's looks (model grid)
# --------------------------------------------------------------------------------------------------


def mirror_disagreement(first: np.ndarray, mirrored: np.ndarray) -> float:
    """1 − IoU (probability ≥ 0.5) of the model's look at the photo and its look at the mirrored photo,
    flipped back. A product the model really sees comes out the same either way round; a guess does not."""
    return 1.0 - mask_iou(first >= 0.5, mirrored >= 0.5)


def hide_object(image: np.ndarray, kept: np.ndarray, settings: SignalSettings = DEFAULT_SIGNALS
                ) -> tuple[np.ndarray, np.ndarray]:
    """The photo (uint8 RGB, model grid) with the kept object and a rim around it inpainted from its
    surroundings, and the hidden area (bool)."""
    hole = _grow(kept, settings.hole_px)
    return cv2.inpaint(image, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA), hole


def rival_after_hiding(hidden_look: np.ndarray, hole: np.ndarray, kept_cells: int,
                       settings: SignalSettings = DEFAULT_SIGNALS) -> float:
    """Area of the largest object the model finds with the kept one hidden, as a share of the kept
    object's area. Only whole objects count: pieces touching the frame are background running off the
    photo (a horizon, a table edge), and pieces hugging the hidden area are the inpainting's smear."""
    found = (hidden_look >= 0.5) & ~_grow(hole, settings.rival_margin_px)
    _, _, stats, _ = cv2.connectedComponentsWithStats(found.astype(np.uint8), connectivity=8)
    height, width = found.shape
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    whole = (x > 0) & (y > 0) & (x + w < width) & (y + h < height)
    return float(area[whole].max()) / max(kept_cells, 1) if whole.any() else 0.0


def left_after_hiding(hidden_look: np.ndarray, hole: np.ndarray, kept_cells: int,
                      settings: SignalSettings = DEFAULT_SIGNALS) -> tuple[float, float]:
    """What the model still sees with the kept object hidden, anywhere clear of the hidden area: its highest
    probability there, and its probability mass there as a share of the kept object's area.

    Unlike :func:`rival_after_hiding` this counts objects running off the frame and objects the model is
    only half sure of: a small product among eye-catching things is often seen only that way, and on a
    plain product shot the model, with the product gone, sees nothing at all."""
    away = hidden_look[~_grow(hole, settings.rival_margin_px)]
    if away.size == 0:
        return 0.0, 0.0
    return float(away.max()), float(away.sum()) / max(kept_cells, 1)


def missed_by_cutout(first: np.ndarray, kept: np.ndarray, settings: SignalSettings = DEFAULT_SIGNALS) -> float:
    """The first look's probability mass away from the kept object, relative to the mass on it: what the
    model saw and the cutout does not keep (a thin part lost in the closer look or the refinement, or
    another object the crop left out)."""
    inside = float(first[kept].sum())
    away = float(first[~_grow(kept, settings.missed_margin_px)].sum())
    return away / inside if inside > 0 else 0.0


def model_soft_band(probability: np.ndarray) -> float:
    """Width, in model cells, of the model's uncertain band (probability 0.1–0.9) along its outline:
    soft cells per outline cell of the look that made the mask."""
    solid = (probability >= 0.5).astype(np.uint8)
    outline = int((solid - cv2.erode(solid, np.ones((3, 3), np.uint8))).sum())
    soft = int(((probability > 0.1) & (probability < 0.9)).sum())
    return soft / outline if outline else 0.0


def pair_imbalance(rival_ratio: float, floor: float = 0.03) -> float:
    """1 − (second piece / first piece) when a second piece worth the name (≥ 3 % of the first) was kept,
    else 0. Two products shot as a set are of a size (about 0.6–1); a small thing beside a large one is
    what a cutout of an eye-catcher plus the real product looks like."""
    return 1.0 - rival_ratio if rival_ratio >= floor else 0.0


# --------------------------------------------------------------------------------------------------
# the photo around the outline
# --------------------------------------------------------------------------------------------------


def signed_distance(solid: np.ndarray) -> np.ndarray:
    """Distance in cells to the outline: positive outside ``solid``, negative inside (±1 next to it)."""
    inside = solid.astype(np.uint8)
    outside = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    depth = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return outside - depth


def _spread(values: np.ndarray, where: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised Gaussian blur: ``values`` (H×W×C) spread from ``where`` into the cells around it."""
    weight = where.astype(np.float32)
    spread = cv2.GaussianBlur(values * weight[..., None], (0, 0), sigma)
    reach = cv2.GaussianBlur(weight, (0, 0), sigma)
    return spread / np.maximum(reach, 1e-6)[..., None]


def show_through(lab: np.ndarray, solid: np.ndarray, settings: SignalSettings = DEFAULT_SIGNALS) -> float:
    """Correlation (−1..1) between the colours inside the product and the background's colours spread in
    from around it. Behind a see-through product the background goes on (``I = αF + (1−α)B``): where the
    background is greener or darker, so is the product. An opaque product's colours owe nothing to it.

    lab: CIE L*a*b* float32 (H×W×3); solid: the product (bool), on the same coarse grid.
    """
    distance = signed_distance(solid)
    body, around = distance < -2, distance > 2
    if body.sum() < 20 or around.sum() < 20:
        return 0.0
    background = _spread(lab, around, settings.field_share * float(np.sqrt(solid.sum())))
    own = lab[body] - lab[body].mean(axis=0)
    behind = background[body] - background[body].mean(axis=0)
    norm = float(np.sqrt((own * own).sum() * (behind * behind).sum()))
    return float((own * behind).sum()) / norm if norm > 1e-6 else 0.0


def _outline_normals(distance: np.ndarray, limit: int) -> tuple[np.ndarray, ...]:
    """Up to ``limit`` outline cells (x, y, evenly spread) of the shape whose :func:`signed_distance` is
    ``distance``, and their outward unit normals."""
    smooth = cv2.GaussianBlur(distance, (0, 0), 2.0)
    gx, gy = cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    ys, xs = np.nonzero((distance >= -1) & (distance < 0))
    pick = np.linspace(0, xs.size - 1, min(xs.size, limit)).astype(np.intp) if xs.size else np.empty(0, np.intp)
    xs, ys = xs[pick], ys[pick]
    nx, ny = gx[ys, xs], gy[ys, xs]
    length = np.hypot(nx, ny) + 1e-6
    return xs.astype(np.float32), ys.astype(np.float32), nx / length, ny / length


def outline_fade_px(lab: np.ndarray, solid: np.ndarray, px_per_cell: float,
                    settings: SignalSettings = DEFAULT_SIGNALS) -> float:
    """Median width (full-resolution px), inside the outline, over which the product's colour already
    gives way to the background's: a flame or a glow is kept up to where it has mostly faded, an opaque
    product keeps its colour up to its edge (a drop shadow fades too, but outside the outline).

    Along each outline normal the colour is sampled from ``fade_reach_px`` inside to as far outside; the
    two ends stand for product and background there, and the width is the stretch inside the outline
    where the colour is between 15 % and 85 % of the way from one to the other. Only profiles whose inner
    end is still deep in the product and whose outer end is clear of it are read (a thin part has no
    inside to compare), and only where the ends differ by 15 ΔE or more (no contrast, no edge to measure).
    """
    distance = signed_distance(solid)
    xs, ys, nx, ny = _outline_normals(distance, settings.max_profiles)
    if xs.size < 20:
        return 0.0
    reach = settings.fade_reach_px / px_per_cell
    steps = np.linspace(-reach, reach, 41, dtype=np.float32)
    map_x = xs[:, None] + steps[None, :] * nx[:, None]
    map_y = ys[:, None] + steps[None, :] * ny[:, None]
    profiles = cv2.remap(lab, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)   # points×steps×3
    ends = cv2.remap(distance, map_x[:, [0, -1]], map_y[:, [0, -1]], cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_REPLICATE)
    product, background = profiles[:, :4].mean(axis=1), profiles[:, -4:].mean(axis=1)
    step = product - background
    contrast = (step * step).sum(axis=1)
    usable = (contrast > 15.0**2) & (ends[:, 0] < -0.8 * reach) & (ends[:, 1] > 0.8 * reach)
    if usable.sum() < 20:
        return 0.0
    share = ((profiles[usable] - background[usable, None]) * step[usable, None]).sum(axis=2) / contrast[usable, None]
    inside = steps <= 0
    between = ((share[:, inside] > 0.15) & (share[:, inside] < 0.85)).sum(axis=1)
    return float(np.median(between)) * float(steps[1] - steps[0]) * px_per_cell


def outline_on_edges(gray: np.ndarray, solid: np.ndarray) -> float:
    """Share of the outline lying on an edge of the photo: a cell whose strongest gradient within two
    cells beats nine in ten cells of the ring around the product. A right outline follows the photo's
    edges; one that cuts through the product or the background mostly does not."""
    distance = signed_distance(solid)
    outline = (distance >= -1) & (distance < 0)
    ring = (distance > 4) & (distance < 30)
    if not outline.any() or ring.sum() < 20:
        return 1.0
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.0)
    gradient = cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    strongest = cv2.dilate(gradient, np.ones((5, 5), np.uint8))
    return float((strongest[outline] > percentile(gradient[ring], 90)).mean())


# --------------------------------------------------------------------------------------------------
# the outline's signals together, for one cutout
# --------------------------------------------------------------------------------------------------


def outline_signals(rgb: np.ndarray, alpha: np.ndarray, settings: SignalSettings = DEFAULT_SIGNALS
                    ) -> dict[str, float]:
    """The signals that read the photo around and across the cutout's outline: ``rgb`` the photo (H×W×3
    uint8), ``alpha`` the cutout (uint8, same size). Empty when the cutout has too few cells to have an
    outline. No model look is needed, so the cutout measures them while the object is being hidden."""
    height, width = alpha.shape
    size = work_size(width, height, settings.outline_long_edge)
    # nearest-neighbour for the alpha (no invented soft cells), area averages for the colours
    solid = cv2.resize(alpha, size, interpolation=cv2.INTER_NEAREST) >= 128
    if solid.sum() < 16:
        return {}
    image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    lab = colour_lab(image)
    signals = {"outline_fade_px": outline_fade_px(lab, solid, width / size[0], settings),
               "outline_on_edges": outline_on_edges(lab[..., 0], solid)}
    coarse_size = work_size(width, height, settings.colour_long_edge)
    coarse_solid = cv2.resize(solid.astype(np.uint8), coarse_size, interpolation=cv2.INTER_NEAREST) > 0
    signals["show_through"] = show_through(cv2.resize(lab, coarse_size, interpolation=cv2.INTER_AREA),
                                           coarse_solid, settings)
    return signals
