# Source: https://github.com/dask/dask/issues/5751, the maintainer's reply quoting the
# reporter's code ("Yes you are [calling delayed within delayed]"); imports as posted
# (none).
@dd.delayed
def int_parameter(level, maxval):
    ...


@dd.delayed
def posterize(pil_img, level):
    level = int_parameter(sample_level(level), 4)  # expect: RD008
    return ImageOps.posterize(pil_img, 4 - level)
