"""Maps, plots, the HTML report and the writers of simulation outputs.

Reads what the simulator emits (:mod:`ondemand.sim.events`) and what routing builds; nothing
below this package imports it. folium and matplotlib come with the extra ``viz``.
"""
