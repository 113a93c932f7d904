"""Human judges (Khan et al. 2024's human trials): the same episodes a model judge decides, before people.

`trial` fills a database with items and balanced assignments, `app` serves the judges' pages, `play` puts the
human in the judge's seat through the protocol's own code, `export` writes the decisions as run folders.
"""
