"""Generate the demo set now (it is otherwise generated on first use) and print its folder.

python datasets/prepare_gaff_demo.py            # under datasets/cache (or $GAFF_DATASETS)
"""

import argparse

from projects_gaff.data import ensure_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--base", default=None, help="datasets folder (default: $GAFF_DATASETS or datasets/)"
    )
    args = parser.parse_args()
    print(ensure_demo(args.base))


if __name__ == "__main__":
    main()
