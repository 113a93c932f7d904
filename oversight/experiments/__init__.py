"""Experiment drivers: a run, a sweep and its schedule, rejudging, cascades, tournaments. They may import
protocols, tasks, models and the ground (`oversight.*`); nothing in the ground imports them."""
