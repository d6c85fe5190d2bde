from resilient_dask.cli import main

if __name__ == "__main__":  # pragma: no branch
    main(prog_name="resilient-dask")
