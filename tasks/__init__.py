"""Tasks: datasets framed as binary-choice questions (see DESIGN.md §2).

Importing this package registers every built-in task (`oversight.registry`, kind "task").
"""

from __future__ import annotations

from tasks import boolq as _boolq  # noqa: F401  (each import registers its tasks)
from tasks import code as _code  # noqa: F401  ("code", "code-mbpp")
from tasks import custom as _custom  # noqa: F401
from tasks import gpqa as _gpqa  # noqa: F401
from tasks import logic as _logic  # noqa: F401
from tasks import math as _math  # noqa: F401  ("math", "math-prose")
from tasks import mmlu as _mmlu  # noqa: F401
from tasks import mmmu as _mmmu  # noqa: F401
from tasks import quality as _quality  # noqa: F401
from tasks import truthfulqa as _truthfulqa  # noqa: F401
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
