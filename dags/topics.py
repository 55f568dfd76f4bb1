"""Airflow DAG of the topic libraries (专题库): ``build_topics``, scheduled by the gold assets it reads.

Thin on purpose: the factory imports neither Spark nor the job; Spark runs inside the task.
"""

from citylake.orchestration.topics_dags import build_topics_dags

globals().update(build_topics_dags())
