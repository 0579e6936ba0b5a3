"""After the fit: the analysis R users run beside lme4. Marginal means and contrasts
(``emmeans``, emmeans), Nakagawa's R² and the ICC (``variance``, performance), type II/III
Wald tests (``wald``, car::Anova), cluster-robust covariances (``sandwich``, clubSandwich),
prediction standard errors and influence (``leverage``), simulated residuals (``residuals``,
DHARMa) and parallel resampling (``resample``). Like ``inference``, it reads a fit through its
own methods and never imports a model kind."""
