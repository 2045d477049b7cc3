"""Pure quality code: prompt templates, the rubric and its criteria, hard gates, originality."""
