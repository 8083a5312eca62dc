"""Fit this sample's colour palette (k-means, 8 colours) and save it as artifacts/palette.joblib.

    python make_model.py [--output DIR] [--write-sample-image]

The palette is learned from the pixels of a photo bundled with scikit-learn (china.jpg, read
with Pillow), as in scikit-learn's "Color Quantization using K-Means" example. Deterministic
(fixed pixel sample, fixed random_state) and quick (about a second). The model is not
committed: a scikit-learn pickle is only guaranteed to load with the scikit-learn version
that wrote it. `scorehost smoke` runs this script itself when artifacts/ is missing.

--write-sample-image redraws sample.png (the picture the sample requests upload).
"""
import argparse
import os
import shutil
import tempfile

import joblib
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_sample_image

HERE = os.path.dirname(os.path.abspath(__file__))
COLORS = 8
PIXELS = 2000


def train():
    photo = load_sample_image("china.jpg")  # (427, 640, 3) uint8
    pixels = photo.reshape(-1, 3).astype(np.float64) / 255
    sample = np.random.default_rng(0).choice(len(pixels), size=PIXELS, replace=False)
    return KMeans(n_clusters=COLORS, n_init=4, random_state=0).fit(pixels[sample])


def write_sample_image(path):
    """A 96x64 test picture: a colour gradient with a few shapes."""
    from PIL import Image, ImageDraw

    x = np.linspace(0, 1, 96)[None, :, None]
    y = np.linspace(0, 1, 64)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (64, 96, 1)), np.broadcast_to(y, (64, 96, 1)),
                          np.broadcast_to(1 - x * y, (64, 96, 1))], axis=2)
    image = Image.fromarray((rgb * 255).round().astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 40, 40), fill=(200, 30, 40))
    draw.rectangle((52, 20, 88, 56), fill=(30, 120, 40))
    draw.line((0, 63, 95, 0), fill=(250, 250, 250), width=3)
    image.save(path, format="PNG", optimize=True)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(HERE, "artifacts"),
                        help="model directory to create (default: artifacts/ beside this script)")
    parser.add_argument("--write-sample-image", action="store_true", help="also redraw sample.png")
    args = parser.parse_args()
    if args.write_sample_image:
        write_sample_image(os.path.join(HERE, "sample.png"))
    output = os.path.abspath(args.output)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".model-", dir=parent)  # same filesystem: the rename is atomic
    os.chmod(scratch, 0o755)
    try:
        joblib.dump(train(), os.path.join(scratch, "palette.joblib"))
        shutil.rmtree(output, ignore_errors=True)
        os.rename(scratch, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {os.path.join(output, 'palette.joblib')}")


if __name__ == "__main__":
    main()
