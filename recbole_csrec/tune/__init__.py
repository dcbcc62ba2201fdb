"""Hyperparameter search with Ray Tune (Ray is imported lazily, only when a search runs)."""
from recbole_csrec.tune.runner import evaluate_student, run_hyper_csrec
from recbole_csrec.tune.space import SearchSpace, load_search_space, parse_search_space

__all__ = ["run_hyper_csrec", "evaluate_student", "SearchSpace", "load_search_space", "parse_search_space"]
