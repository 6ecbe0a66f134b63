"""Every figure (matplotlib's object API): a module per figure family on a shared scaffold."""
