"""The model-only schedule measured (issue 16): the exact comparison on toy targets
(:mod:`.exact_table`, ``python -m mdm_ot.experiments.model_only.exact_table``) and the profiles of
real models (:mod:`.real`, :func:`model_profile`, loaded on first use: it needs the models)."""


def __getattr__(name: str):
    if name == "model_profile":
        from mdm_ot.experiments.model_only.real import model_profile

        return model_profile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
