"""Draw bot/assets/default_pose.png: one OpenPose skeleton seen from the front, three-quarter,
side and back, used as the pose reference when a member attaches none.

The figure is a single 3-D skeleton turned about its vertical axis and projected flat, so the
four views always agree. Run `python scripts/draw_default_pose.py`; the output is deterministic.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

OUTPUT = Path(__file__).resolve().parent.parent / "bot" / "assets" / "default_pose.png"
SHEET_SIZE = (1024, 576)
HEAD = 57  # pixels per head-height; the figure is about 7.4 heads tall
TOP = 68  # y of the top of the head
STICK_WIDTH = 4
JOINT_RADIUS = 5

# OpenPose COCO-18 keypoints, in its order, as (x, y, z) in head-heights: x towards the person's
# own left, y down from the top of the head, z towards where they face. The small front-to-back
# offsets of hands and feet are what keep limbs apart in the side view.
KEYPOINTS: tuple[tuple[float, float, float], ...] = (
    (0.00, 0.58, 0.45),  # 0 nose
    (0.00, 1.35, 0.00),  # 1 neck
    (-0.85, 1.45, -0.05),  # 2 right shoulder
    (-1.42, 2.68, 0.00),  # 3 right elbow
    (-1.88, 3.82, 0.30),  # 4 right wrist
    (0.85, 1.45, -0.05),  # 5 left shoulder
    (1.42, 2.68, 0.10),  # 6 left elbow
    (1.88, 3.82, 0.50),  # 7 left wrist
    (-0.50, 3.90, 0.00),  # 8 right hip
    (-0.55, 5.60, 0.00),  # 9 right knee
    (-0.62, 7.30, -0.15),  # 10 right ankle
    (0.50, 3.90, 0.00),  # 11 left hip
    (0.58, 5.60, 0.15),  # 12 left knee
    (0.66, 7.30, 0.25),  # 13 left ankle
    (-0.17, 0.42, 0.38),  # 14 right eye
    (0.17, 0.42, 0.38),  # 15 left eye
    (-0.42, 0.50, -0.05),  # 16 right ear
    (0.42, 0.50, -0.05),  # 17 left ear
)
FACE = frozenset({0, 14, 15})
EARS = frozenset({16, 17})

# The standard OpenPose limb order and colours (as drawn by the ControlNet annotator).
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip

# Degrees the figure has turned to its own right: front, three-quarter, side (facing the
# picture's left), back.
VIEWS = (0.0, -45.0, -90.0, 180.0)

Point = tuple[float, float]


def project(yaw_degrees: float, centre_x: float) -> dict[int, Point]:
    """Screen positions of the keypoints seen in this view; hidden face points are left out."""
    yaw = math.radians(yaw_degrees)
    points: dict[int, Point] = {}
    for index, (x, y, z) in enumerate(KEYPOINTS):
        across = x * math.cos(yaw) + z * math.sin(yaw)
        depth = -x * math.sin(yaw) + z * math.cos(yaw)
        # OpenPose finds no nose or eyes on the back of a head, nor an ear behind it.
        if (index in FACE and depth < -0.05) or (index in EARS and depth < -0.15):
            continue
        points[index] = (centre_x + across * HEAD, TOP + y * HEAD)
    return points


def ellipse(start: Point, end: Point) -> list[Point]:
    """The filled ellipse OpenPose draws for a limb: as long as the limb, STICK_WIDTH thick."""
    (x0, y0), (x1, y1) = start, end
    middle_x, middle_y = (x0 + x1) / 2, (y0 + y1) / 2
    half_length = math.hypot(x1 - x0, y1 - y0) / 2
    angle = math.atan2(y1 - y0, x1 - x0)
    outline = []
    for step in range(36):
        t = 2 * math.pi * step / 36
        along, across = half_length * math.cos(t), STICK_WIDTH * math.sin(t)
        outline.append(
            (
                middle_x + along * math.cos(angle) - across * math.sin(angle),
                middle_y + along * math.sin(angle) + across * math.cos(angle),
            )
        )
    return outline


def draw_figure(draw: ImageDraw.ImageDraw, points: dict[int, Point]) -> None:
    # Limbs at 60% brightness, joints at full, as the ControlNet annotator renders them.
    for (start, end), colour in zip(LIMBS, COLOURS, strict=False):
        if start in points and end in points:
            dimmed = tuple(int(channel * 0.6) for channel in colour)
            draw.polygon(ellipse(points[start], points[end]), fill=dimmed)
    for index, (x, y) in sorted(points.items()):
        box = (x - JOINT_RADIUS, y - JOINT_RADIUS, x + JOINT_RADIUS, y + JOINT_RADIUS)
        draw.ellipse(box, fill=COLOURS[index])


def draw_sheet() -> Image.Image:
    sheet = Image.new("RGB", SHEET_SIZE, "black")
    draw = ImageDraw.Draw(sheet)
    column = SHEET_SIZE[0] / len(VIEWS)
    for number, yaw in enumerate(VIEWS):
        draw_figure(draw, project(yaw, column * (number + 0.5)))
    return sheet


def main() -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    draw_sheet().save(OUTPUT, "PNG", optimize=True)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
