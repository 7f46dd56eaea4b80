"""lexir on a Ray cluster: distributed encoding (encoding.py) and sharded serving (serve.py).

Ray is the optional `distributed` extra: it is imported only inside these modules, when a command is given
`--ray`, never when lexir itself is imported.
"""
