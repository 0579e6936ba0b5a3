"""Inference on a fit: denominator df, by Satterthwaite or Kenward-Roger (``ddf``), type III
F tests (``type3``), confidence intervals (``confint``: profile, Wald, bootstrap) and
likelihood-ratio tests between fits (``lrt``, lme4's ``anova(m0, m1)``). It calls a fit's own
methods (``refit``, ``devfun``) and never imports a model kind."""
