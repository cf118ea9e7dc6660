"""Gold jobs: training examples, rejected runs, preference and constitutional pairs."""
