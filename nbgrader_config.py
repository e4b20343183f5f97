"""nbgrader configuration for this course (the repository root is the course root).

``solutions/<assignment>/<assignment>.ipynb`` is the source; ``exercises/`` is generated from it
by ``course release`` (nbgrader generate_assignment) and never edited by hand. ``submitted/``,
``autograded/``, ``feedback/`` and ``gradebook.db`` stay local (they are gitignored).

``course autograde`` (course_utils.grading) runs each student in its own process and private
course folder with this file, so plain ``nbgrader`` commands and the course command grade alike.
"""

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# What a student sees in place of an answer.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Training cells take longer than nbgrader's 30 s default: GuardedExecute (below) interrupts a
# cell after course_utils.grading.protocol.CELL_TIMEOUT (120 s), for plain `nbgrader` commands
# and `course autograde` alike; the grader also caps a whole notebook (NOTEBOOK_TIMEOUT, 300 s).

# A deleted test cell is put back from the source by course_utils.grading.repair, at the right
# place, before nbgrader sees the notebook (nbgrader's OverwriteCells only restores cells that
# are still there).

# Warnings on stderr (TensorFlow, absl, Keras) must not cost points: strip stderr streams from
# graded cells after execution and before scoring; `error` outputs are kept and still score 0.
c.Autograde.autograde_preprocessors = [
    "course_utils.grading.execute.GuardedExecute",  # nbgrader's Execute + the test guard
    "course_utils.grading.preprocessors.StripStderr",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback goes back to students: no hidden test code, not even quoted in a traceback.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_utils.grading.preprocessors.TrimHiddenTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
