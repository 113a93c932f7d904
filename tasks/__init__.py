"""Tasks: datasets framed as binary-choice questions (see DESIGN.md §2).

Importing this package registers every built-in task (`oversight.registry`, kind "task").
"""

from __future__ import annotations

from tasks import math as _math  # noqa: F401  (registers "math")
from tasks.base import (
    DATA_DIR_ENV,
    Record,
    Task,
    TaskInfo,
    get_task,
    load_questions,
    resolve_data_file,
    task_class,
    task_info,
    task_infos,
    task_names,
)
from tasks.framing import ORDERS, apply_order

__all__ = [
    "DATA_DIR_ENV",
    "ORDERS",
    "Record",
    "Task",
    "TaskInfo",
    "apply_order",
    "get_task",
    "load_questions",
    "resolve_data_file",
    "task_class",
    "task_info",
    "task_infos",
    "task_names",
]
