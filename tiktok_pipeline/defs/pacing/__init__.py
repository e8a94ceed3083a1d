"""Budget pacing: ``pacing_recommendations`` per window, and in apply mode the budget changes it sends."""
