"""Follow one person through a video, frame by frame, with bounded memory.

Per frame the tracker runs only the 68-point predictor in the box the face had in
the previous frame (~1 ms) and moves the box with the landmarks; every
``DetectConfig.redetect_every`` frames, or when the landmarks jump, it confirms the
face with HOG in a small window around it (a few ms); the full-frame detector runs
only when the face is lost or not yet found. A second person
cannot steal the track: in-window candidates must overlap the previous box,
and after a loss the face is re-acquired only if its dlib identity descriptor
matches the person first tracked.

With ``DetectConfig.reference_face`` (a photo) the person is chosen by identity, not size: the
first face whose descriptor is within dlib's same-person distance of the photo's (the nearest, when
several are) is followed, and after a loss the face re-acquired is the one nearest the photo or the
person's first sight in the clip. A face found not to be them is compared again only after a wait
that doubles each time (``_RECHECK_FIRST`` to ``_RECHECK_MAX`` frames), so while the person has not
appeared a bystander costs a few descriptors, not one at every detection.

A tracker's state (the box it carries from frame to frame) steers every later fit: moved by one
pixel, it gives landmarks several pixels (the jaw: up to 30) apart for the rest of the clip. So a
video tracked in two stretches (``stitchtime.faces.video``) :meth:`FaceTracker.resync`-s at the
split: that frame starts over from a full-frame detection, as the fresh tracker of the second
stretch starts; and :meth:`FaceTracker.join` takes the second stretch only when it started on the
very face this tracker resynced on (else this tracker goes on itself).

Only landmarks are kept (``T x 68 x 2`` floats), never frames.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, replace

import cv2
import numpy as np

from stitchtime.config import DetectConfig, TrackConfig
from stitchtime.faces.detect import FaceBackend, box_from_landmarks, box_iou
from stitchtime.faces.reference import reference_descriptor
from stitchtime.temporal.smooth import interpolate_gaps
from stitchtime.types import FaceObservation, FaceTrack

# A candidate in the search window must overlap the previous box at least this much.
_MIN_IOU = 0.3
# dlib descriptors closer than this are the same person (dlib's documented threshold is 0.6).
_SAME_PERSON = 0.6
# Following by landmarks alone is refused (window detection instead) when, between two frames,
# the face span changes by more than this fraction or the face moves by more than this many spans.
_MAX_SIZE_CHANGE = 0.15
_MAX_SHIFT = 0.5
# Following by landmarks alone is also refused when the face box's small grey thumbnail correlates
# less than this with the last frame's (a cut; the face left; a blank frame).
_MIN_THUMB_SIMILARITY = 0.5
_THUMB = 16
# Landmark indices of the eye corners and mouth corners (iBUG 68-point scheme).
_LEFT_EYE, _RIGHT_EYE = slice(36, 42), slice(42, 48)
_MOUTH_L, _MOUTH_R = 48, 54
# With a reference photo: a face found not to be the person (and any face overlapping it later) is
# compared again after this many frames, then after twice as many each time, up to the maximum.
_RECHECK_FIRST = 6
_RECHECK_MAX = 48


def face_span(landmarks: np.ndarray) -> float:
    """A size measure robust to rotation: max(eye-to-eye, eye-to-mouth) distance in pixels."""
    eye_l = landmarks[_LEFT_EYE].mean(0)
    eye_r = landmarks[_RIGHT_EYE].mean(0)
    mouth = (landmarks[_MOUTH_L] + landmarks[_MOUTH_R]) / 2
    return float(max(np.linalg.norm(eye_r - eye_l), np.linalg.norm(mouth - (eye_l + eye_r) / 2)))


@dataclass
class TrackPart:
    """Per-frame landmarks (None: no face) and facts of one stretch of a video."""

    landmarks: list[np.ndarray | None]
    stats: Counter
    notes: list[str]
    first: FirstSight | None  # where the person followed was first seen
    frame_size: tuple[int, int] | None
    nearest: float = math.inf  # with a reference photo: the nearest identity distance to it seen


@dataclass
class FirstSight:
    """The frame and face where a tracker first chose its person (``index``: frame in the
    stretch); the identity descriptor is computed from it on first use."""

    frame: np.ndarray
    face: FaceObservation
    index: int
    _descriptor: np.ndarray | None = None
    distance: float | None = None  # identity distance to the reference photo (when there is one)

    def descriptor(self, backend: FaceBackend) -> np.ndarray:
        if self._descriptor is None:
            self._descriptor = backend.descriptor(self.frame, self.face)
        return self._descriptor


@dataclass
class _NotThem:
    """A face found not to be the reference person: where it was last seen, when it was last
    compared, and how long until it is compared again."""

    box: np.ndarray
    seen: int
    checked: int
    wait: int


def _thumb(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A ``_THUMB`` x ``_THUMB`` grey float image of ``box`` (clipped to the frame)."""
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((_THUMB, _THUMB), np.float32)
    patch = frame[y0:y1, x0:x1]
    if patch.ndim == 3:
        patch = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    return cv2.resize(patch, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two thumbnails (0 when either is flat)."""
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-6 * a.size else 0.0


class FaceTracker:
    """Feed frames in order with :meth:`update`; call :meth:`finish` for the :class:`FaceTrack`."""

    def __init__(self, backend: FaceBackend, detect: DetectConfig = DetectConfig(), track: TrackConfig = TrackConfig()):
        self.backend = backend
        self.detect_cfg = detect
        self.track_cfg = track
        self._landmarks: list[np.ndarray | None] = []
        self._prev: FaceObservation | None = None
        # The person followed: where they were first seen (one frame kept); their dlib identity
        # descriptor (~0.1 s) is computed only when needed (re-acquisition, joining stretches).
        self._first: FirstSight | None = None
        self._frame_size: tuple[int, int] | None = None
        self._since_detect = 0  # frames followed by landmarks alone since the last detection
        # While lost, the full detector runs only every DetectConfig.lost_detect_every frames; the
        # frames in between wait here (at most that many - 1) to be followed back once it is found.
        self._lost = 0
        self._prev_thumb: np.ndarray | None = None  # small grey image of the face box in the last frame
        self._followed: tuple[FaceObservation | None, np.ndarray | None] = (None, None)
        self._unsearched: deque[tuple[int, np.ndarray]] = deque(maxlen=max(0, detect.lost_detect_every - 1))
        self.stats: Counter = Counter()  # local / full detections, tiny faces, several faces ...
        self.notes: list[str] = []
        # --reference-face: the photo's person (None: the largest face or face_index), the nearest
        # identity distance to it seen so far, and the faces lately found not to be them.
        found = reference_descriptor(detect)
        self._photo, self._photo_descriptor = found if found is not None else (None, None)
        self._nearest = math.inf
        self._not_them: list[_NotThem] = []
        self._resync = False  # resync(): the next frame starts over from a full-frame detection

    # -- per frame ---------------------------------------------------------------------
    def update(self, frame: np.ndarray) -> FaceObservation | None:
        h, w = frame.shape[:2]
        self._frame_size = (w, h)
        was_lost = self._prev is None
        obs = None
        if self._resync:
            self._resync = False
            self._lost = 0  # lost, this frame is searched (as a fresh tracker's first frame is)
            if not was_lost:
                obs = self._redetect(frame)
        if obs is None and not was_lost:
            obs = self._local(frame)
        if obs is None:
            if was_lost and self._lost % self.detect_cfg.lost_detect_every:
                self._lost += 1
                self._unsearched.append((len(self._landmarks), frame))
                self._landmarks.append(None)
                return None
            obs = self._full(frame)
        if obs is not None and face_span(obs.landmarks) < self.detect_cfg.min_face:
            self.stats["tiny"] += 1
            obs = None
        self._prev = obs
        followed, thumb = self._followed
        self._prev_thumb = None if obs is None else thumb if obs is followed else _thumb(frame, obs.box)
        self._landmarks.append(None if obs is None else obs.landmarks.astype(np.float32))
        if obs is None:
            self._lost += 1
        else:
            self._backfill(obs)
            self._lost = 0
        return obs

    def _backfill(self, found: FaceObservation) -> None:
        """The face was just found after frames where, lost, we did not search: follow it back
        through them (landmarks only), so it is not picked up late."""
        prev, prev_thumb = found, self._prev_thumb
        expected = len(self._landmarks) - 2  # the frame before the one where it was found
        while self._unsearched:
            index, frame = self._unsearched.pop()
            if index != expected or self._landmarks[index] is not None:
                break
            expected -= 1
            back = self._follow_from(prev, prev_thumb, frame)
            if back is None or face_span(back.landmarks) < self.detect_cfg.min_face:
                break
            self.stats["backfill"] += 1
            self._landmarks[index] = back.landmarks.astype(np.float32)
            prev, prev_thumb = back, _thumb(frame, back.box)
        self._unsearched.clear()

    def _local(self, frame: np.ndarray) -> FaceObservation | None:
        self._since_detect += 1
        if self._since_detect < self.detect_cfg.redetect_every and self.backend.cheap_landmarks:
            follow = self._follow(frame)
            if follow is not None:
                return follow
        self._since_detect = 0
        self.stats["local"] += 1
        candidates = self.backend.detect_near(frame, self._prev.box)
        best = max(candidates, key=lambda f: box_iou(f.box, self._prev.box), default=None)
        if best is not None and box_iou(best.box, self._prev.box) >= _MIN_IOU:
            return best
        return None

    def resync(self) -> None:
        """Start the next frame over from a full-frame detection, as a fresh tracker's first frame
        does: the same box, the redetection (and, lost, the search) schedule restarted, so from
        there on this tracker and one started at that frame find the same landmarks. The person
        is kept: the detection overlapping the last box is taken; with none, the frame is tracked
        as usual."""
        self._resync = True

    def _redetect(self, frame: np.ndarray) -> FaceObservation | None:
        self.stats["full"] += 1
        near = [f for f in self.backend.detect(frame) if box_iou(f.box, self._prev.box) >= _MIN_IOU]
        if not near:
            return None
        self._since_detect = 0
        return max(near, key=lambda f: box_iou(f.box, self._prev.box))

    def _follow(self, frame: np.ndarray) -> FaceObservation | None:
        """Landmarks only (no detector): the predictor in last frame's box, the box then moved
        with the landmarks. Refused (-> window detection) if the face jumped or changed size."""
        self.stats["follow"] += 1
        return self._follow_from(self._prev, self._prev_thumb, frame)

    def _follow_from(self, prev: FaceObservation, prev_thumb: np.ndarray, frame: np.ndarray) -> FaceObservation | None:
        lm = self.backend.landmarks_in_box(frame, prev.box)
        if lm is None:  # a detect-only backend found no face there
            return None
        c0, c1 = prev.landmarks.mean(0), lm.mean(0)
        s0, s1 = face_span(prev.landmarks), face_span(lm)
        if (
            s0 <= 0
            or not (1 - _MAX_SIZE_CHANGE < s1 / s0 < 1 + _MAX_SIZE_CHANGE)
            or np.linalg.norm(c1 - c0) > _MAX_SHIFT * s0
        ):
            return None
        centre = (prev.box[:2] + prev.box[2:]) / 2 + (c1 - c0)
        half = (prev.box[2:] - prev.box[:2]) / 2 * (s1 / s0)
        box = np.concatenate([centre - half, centre + half]).astype(np.float32)
        thumb = _thumb(frame, box)
        if _similarity(thumb, prev_thumb) < _MIN_THUMB_SIMILARITY:
            self.stats["cut"] += 1  # the moved box does not look like the last one: a cut, the face gone
            return None
        obs = FaceObservation(box=box, landmarks=lm, score=prev.score)
        self._followed = (obs, thumb)  # update() reuses this frame's thumbnail
        return obs

    def _full(self, frame: np.ndarray) -> FaceObservation | None:
        self.stats["full"] += 1
        faces = self.backend.detect(frame)
        if not faces:
            return None
        if self._prev is not None:  # lost in the window but maybe moved fast: same place, any size
            near = [f for f in faces if box_iou(f.box, self._prev.box) >= _MIN_IOU]
            if near:
                return max(near, key=lambda f: box_iou(f.box, self._prev.box))
        if self._first is None:
            return self._acquire(frame, faces)
        return self._reacquire(frame, faces)

    def _acquire(self, frame: np.ndarray, faces: list[FaceObservation]) -> FaceObservation | None:
        if self._photo is not None:
            match = self._match(frame, faces)
            if match is None:
                return None
            face, descriptor, distance = match
            self._first = FirstSight(frame, face, len(self._landmarks), descriptor, distance)
            return face
        index = self.detect_cfg.face_index
        if index is None:
            chosen = faces[0]  # largest
            if len(faces) > 1:
                self.notes.append(f"{len(faces)} faces found; editing the largest (choose another with --face-index)")
        else:
            by_x = sorted(faces, key=lambda f: f.box[0])
            if index >= len(by_x):
                self.stats["most_faces"] = max(self.stats["most_faces"], len(by_x))  # (said once, at the end)
                return None
            chosen = by_x[index]
            self.notes.append(f"{len(faces)} faces found; editing face {index} (left to right)")
        self._first = FirstSight(frame, chosen, len(self._landmarks))
        return chosen

    def _reference(self) -> np.ndarray:
        return self._first.descriptor(self.backend)

    def _match(
        self, frame: np.ndarray, faces: list[FaceObservation]
    ) -> tuple[FaceObservation, np.ndarray, float] | None:
        """With a reference photo: the face among ``faces`` that is its person (descriptor within
        ``_SAME_PERSON`` of the photo's or, once followed, of the person's first sight here; the
        nearest of several), with its descriptor and its distance to the photo; None when none is.
        Faces smaller than ``min_face`` are not compared; a face overlapping one lately found not to
        be the person waits its turn (``_NotThem``)."""
        now = len(self._landmarks)
        refs = [self._photo_descriptor] + ([self._reference()] if self._first is not None else [])
        best: tuple[float, FaceObservation, np.ndarray, float] | None = None
        compared = 0
        for face in faces:
            if face_span(face.landmarks) < self.detect_cfg.min_face:
                continue
            known = max(self._not_them, key=lambda r: box_iou(r.box, face.box), default=None)
            if known is not None and box_iou(known.box, face.box) >= _MIN_IOU:
                known.box, known.seen = face.box, now
                if now < known.checked + known.wait:
                    continue
            else:
                known = None
            compared += 1
            self.stats["reference_checks"] += 1
            descriptor = self.backend.descriptor(frame, face)
            to_photo = float(np.linalg.norm(descriptor - self._photo_descriptor))
            self._nearest = min(self._nearest, to_photo)
            distance = min(float(np.linalg.norm(descriptor - r)) for r in refs)
            if distance < _SAME_PERSON:
                if known is not None:
                    self._not_them.remove(known)
                if best is None or distance < best[0]:
                    best = (distance, face, descriptor, to_photo)
            elif known is not None:
                known.checked, known.wait = now, min(2 * known.wait, _RECHECK_MAX)
            else:
                self._not_them.append(_NotThem(face.box, now, now, _RECHECK_FIRST))
        self._not_them = [r for r in self._not_them if now - r.seen <= _RECHECK_MAX]
        if not compared and faces and all(face_span(f.landmarks) < self.detect_cfg.min_face for f in faces):
            self.stats["tiny"] += 1
        return None if best is None else best[1:]

    def _reacquire(self, frame: np.ndarray, faces: list[FaceObservation]) -> FaceObservation | None:
        if self._photo is not None:
            match = self._match(frame, faces)
            return None if match is None else match[0]
        self.stats["reacquire_checks"] += 1
        ref = self._reference()
        dists = [float(np.linalg.norm(self.backend.descriptor(frame, f) - ref)) for f in faces]
        i = int(np.argmin(dists))
        return faces[i] if dists[i] < _SAME_PERSON else None

    # -- splitting a video between processes ------------------------------------------------
    def part(self) -> TrackPart:
        """What this tracker found so far, as plain picklable data."""
        return TrackPart(
            list(self._landmarks), Counter(self.stats), list(self.notes), self._first, self._frame_size, self._nearest
        )

    def same_person(self, other: TrackPart) -> bool:
        """Whether ``other`` (the stretch right after this one, tracked separately) followed the
        person this tracker follows: true when either has no face; when this stretch's last face
        and the other's first overlap (the track simply continues); else by dlib descriptor."""
        if self._first is None or other.first is None:
            return True
        last = self._landmarks[-1] if self._landmarks else None
        if last is not None and other.first.index == 0:
            if box_iou(box_from_landmarks(last), box_from_landmarks(other.first.face.landmarks)) >= _MIN_IOU:
                return True
        ref = self._reference()
        return float(np.linalg.norm(other.first.descriptor(self.backend) - ref)) < _SAME_PERSON

    def join(self, other: TrackPart) -> bool:
        """Append ``other`` when it is what this tracker would find next: ``other`` was tracked by
        a fresh tracker from this tracker's last frame (on which this one :meth:`resync`-ed) to the
        end; its first frame (already here; its counts are expected to be left out of
        ``other.stats``) is dropped. Joined when both found the same face there (the same
        landmarks: the same detection, so the same state from there on), or both none and ``other``
        follows the same person (:meth:`same_person`). False, nothing appended: track on here."""
        if not self._landmarks or not other.landmarks:
            return False
        mine, theirs = self._landmarks[-1], other.landmarks[0]
        if (mine is None) != (theirs is None) or (mine is not None and not np.array_equal(mine, theirs)):
            return False
        first = other.first
        if first is not None:  # (found on the shared frame: so was it here, and this first is not needed)
            first = None if first.index == 0 else replace(first, index=first.index - 1)
        rest = replace(other, landmarks=other.landmarks[1:], first=first)
        if mine is None and not self.same_person(rest):
            return False
        self.extend(rest)
        return True

    def extend(self, other: TrackPart) -> None:
        """Append a later stretch (checked with :meth:`same_person`) as if tracked here."""
        self._landmarks.extend(other.landmarks)
        most = max(self.stats["most_faces"], other.stats["most_faces"])  # a maximum, not a count
        self.stats.update(other.stats)
        self.stats["most_faces"] = most
        self._nearest = min(self._nearest, other.nearest)
        if self._first is None and other.first is not None:
            self._first = replace(other.first, index=other.first.index + len(self._landmarks) - len(other.landmarks))
            self.notes.extend(other.notes)
        self._frame_size = other.frame_size or self._frame_size

    # -- end -----------------------------------------------------------------------------
    def finish(self) -> FaceTrack:
        t = len(self._landmarks)
        lms = np.full((t, 68, 2), np.nan, dtype=np.float32)
        detected = np.zeros(t, dtype=bool)
        for i, lm in enumerate(self._landmarks):
            if lm is not None:
                lms[i] = lm
                detected[i] = True
        filled, valid = interpolate_gaps(lms.reshape(t, -1), detected, self.track_cfg.max_gap)
        notes = list(self.notes)
        if self._photo is not None:
            said = self._reference_note()
            notes[:0] = [*self._photo.notes, *([said] if said else [])]
        if self._first is None and self.detect_cfg.face_index is not None and self.stats["most_faces"]:
            most = self.stats["most_faces"]
            notes.append(
                f"--face-index {self.detect_cfg.face_index}: no frame shows that many faces "
                f"(at most {most}: use --face-index 0 to {most - 1})"
            )
        if self.stats["tiny"]:
            notes.append(f"{self.stats['tiny']} frame(s) skipped: face smaller than {self.detect_cfg.min_face} px")
        missing = int((~valid).sum())
        if detected.any() and missing:
            notes.append(f"{missing} of {t} frame(s) without the face pass through unchanged")
        return FaceTrack(
            landmarks=filled.reshape(t, 68, 2).astype(np.float32),
            detected=detected,
            valid=valid,
            frame_size=self._frame_size or (0, 0),
            notes=notes,
        )

    def _reference_note(self) -> str | None:
        """Whom --reference-face followed, or (starting with the option's name: VideoRun.analyse
        raises it when no frame has the face) that nobody in the clip is the person; None when the
        clip showed no face to compare."""
        name = self._photo.photo.name
        if self._first is None:
            if not self.stats["reference_checks"]:
                return None
            return (
                f"--reference-face {name}: nobody in the clip is the person in the photo (nearest identity "
                f"distance {self._nearest:.2f} over {self.stats['reference_checks']} face(s) compared; "
                f"the same person is under {_SAME_PERSON})"
            )
        x, y = self._first.face.landmarks.mean(0)
        return (
            f"following the person in {name}: recognised on frame {self._first.index} around x={x:.0f}, "
            f"y={y:.0f} (identity distance {self._first.distance:.2f} from the photo)"
        )


def track_faces(
    frames, backend: FaceBackend, detect: DetectConfig = DetectConfig(), track: TrackConfig = TrackConfig()
) -> FaceTrack:
    """Run a :class:`FaceTracker` over an iterable of frames."""
    tracker = FaceTracker(backend, detect, track)
    for frame in frames:
        tracker.update(frame)
    return tracker.finish()
