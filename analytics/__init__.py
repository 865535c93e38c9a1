"""CohortLens analytics: features -> selection -> k vote -> KMeans -> stable ids -> profiles ->
transitions, anomalies, drift, activity report. Pure pandas / numpy / scipy / scikit-learn / kneed."""

from .activity import REPORT_FIELDS, activity_report
from .anomalies import detect_anomalies
from .clustering import ClusteringResult, cluster_students, per_student_silhouette
from .drift import feature_drift, psi
from .features import (
    ACTIVITY_COLUMNS,
    DEFAULT_WEIGHTS,
    ENGAGEMENT_FORMULA,
    FEATURE_COLUMNS,
    LOG_COLUMNS_READ,
    PERFORMANCE_COLUMNS,
    RECENCY_COLUMNS,
    TEMPORAL_COLUMNS,
    classify_events,
    engagement_score,
    extract_features,
)
from .k_selection import KSelector, elbow_k
from .profiles import (
    FEATURE_LABELS,
    build_prompt,
    check_numbers,
    cluster_statistics,
    describe_clusters,
    parse_llm_reply,
    prompt_statistics,
    statistics_key,
    top_features,
)
from .selection import FeatureSelector
from .stable_ids import assign_stable_ids, relabel
from .transitions import compute_transitions, detect_alerts, rank_movers, transition_summary

__all__ = [
    "ACTIVITY_COLUMNS",
    "DEFAULT_WEIGHTS",
    "ENGAGEMENT_FORMULA",
    "FEATURE_COLUMNS",
    "FEATURE_LABELS",
    "LOG_COLUMNS_READ",
    "PERFORMANCE_COLUMNS",
    "RECENCY_COLUMNS",
    "REPORT_FIELDS",
    "TEMPORAL_COLUMNS",
    "ClusteringResult",
    "FeatureSelector",
    "KSelector",
    "activity_report",
    "assign_stable_ids",
    "build_prompt",
    "check_numbers",
    "classify_events",
    "cluster_statistics",
    "cluster_students",
    "compute_transitions",
    "describe_clusters",
    "detect_alerts",
    "detect_anomalies",
    "elbow_k",
    "engagement_score",
    "extract_features",
    "feature_drift",
    "parse_llm_reply",
    "per_student_silhouette",
    "prompt_statistics",
    "psi",
    "rank_movers",
    "relabel",
    "statistics_key",
    "top_features",
    "transition_summary",
]
