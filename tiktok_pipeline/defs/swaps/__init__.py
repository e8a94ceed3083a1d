"""Creative swaps (group ``activation``): ``creative_swap_recommendations`` per window."""
