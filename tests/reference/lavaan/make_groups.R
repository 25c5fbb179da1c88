# make_groups.R -- lavaan 0.6.14 oracles for two-level models with two groups.
#
# Usage (from this folder; make_extras.R must have written
# extras/demo_twolevel.csv first):
#     cd tests/reference/lavaan && Rscript make_groups.R       # ~1 minute
#
# Data: lavaan's Demo.twolevel (y1..y6, 200 clusters, 50 each of sizes 5, 10,
# 15, 20; N = 2500), split into two groups of whole clusters in two ways:
#   * equal:   within each cluster size, clusters sorted by id alternate
#              between the groups (1st -> group 1, 2nd -> group 2, ...), so
#              each group has 25 clusters of every size: J_g = 100 and
#              N_g = 1250 in both groups.
#   * unequal: cluster id <= 60 -> group 1, the rest -> group 2.
# Cluster 1 is in group 1 in both splits and the data are in cluster order,
# so lavaan's group labels "1", "2" (order of first appearance) are also the
# group numbers.  The split is written to extras/demo_twolevel_groups.csv
# (columns y1..y6, cluster, g_equal, g_unequal).
#
# Models (one `group:` block per group, each holding both `level:` blocks;
# group-only or level-only syntax with group= fails in 0.6.14):
#   * configural: loadings equal across levels within a group (group-specific
#     labels a2_g1, a2_g2, ...), free across groups;
#   * metric: the same labels in both groups (a2, a3, a5, a6): loadings equal
#     across levels and groups.  `group.equal = "loadings"` on the configural
#     syntax is also fitted and recorded (metric_group_equal): lavaan adds no
#     constraint to loadings that carry user labels, so it equals the
#     configural fit (df 40) -- cross-group equality must come from labels.
# Trap (recorded, not corrected): with cross-group constraints lavaan 0.6.14
# maximises sum_g (N_g/N) logL_g, not sum_g logL_g, so for unequal N_g its
# metric estimates are not the ML estimates.  Its reported logl is still
# sum_g logL_g at those estimates.

source("lavaan_json.R")

out_dir <- "extras"
ys <- paste0("y", 1:6)

d0 <- read_data_csv(file.path(out_dir, "demo_twolevel.csv"))
stopifnot(!is.unsorted(d0$cluster))
sizes <- table(d0$cluster)
ids <- as.integer(names(sizes))
g_equal <- integer(length(ids))
for (s in sort(unique(as.integer(sizes)))) {
  k <- ids[as.integer(sizes) == s]           # sorted ids of this size
  g_equal[match(k, ids)] <- rep(c(1L, 2L), length.out = length(k))
}
d0$g_equal <- g_equal[match(d0$cluster, ids)]
d0$g_unequal <- ifelse(d0$cluster <= 60L, 1L, 2L)
stopifnot(d0$g_equal[1] == 1L, d0$g_unequal[1] == 1L,
          sum(d0$g_equal == 1L) == sum(d0$g_equal == 2L))

out <- d0[, c(ys, "cluster", "g_equal", "g_unequal")]
for (v in ys) out[[v]] <- sprintf("%.15g", out[[v]])
utils::write.csv(out, file.path(out_dir, "demo_twolevel_groups.csv"),
                 row.names = FALSE, quote = FALSE)

level_syntax <- function(suffix) {
  lab <- function(a) paste0(a, suffix)
  meas <- c(sprintf("  F1 =~ y1 + %s*y2 + %s*y3", lab("a2"), lab("a3")),
            sprintf("  F2 =~ y4 + %s*y5 + %s*y6", lab("a5"), lab("a6")))
  c("level: 1", meas, "level: 2", meas)
}
model_configural <- paste(c("group: 1", level_syntax("_g1"),
                            "group: 2", level_syntax("_g2")), collapse = "\n")
model_metric <- paste(c("group: 1", level_syntax(""),
                        "group: 2", level_syntax("")), collapse = "\n")

# lavInspect gives one flat list of blocks, group-major (g1 within, g1
# between, g2 within, ...): regroup as one two-level entry per group.
per_group <- function(blocks) {
  stopifnot(length(blocks) %% 2L == 0L)
  lapply(seq_len(length(blocks) / 2L), function(g) {
    b <- blocks[2L * g - 1L + 0:1]
    names(b) <- c("within", "cluster")
    two_levels(b)
  })
}

fit_record <- function(fit, call, syntax) {
  std <- fit@test[["standard"]]
  nobs <- lavaan::lavInspect(fit, "nobs")
  ncl <- lavaan::lavInspect(fit, "nclusters")
  fm <- lavaan::fitMeasures(fit)
  list(
    lavaan_call = call,
    model_syntax = syntax,
    group_label = I(lavaan::lavInspect(fit, "group.label")),
    converged = lavaan::lavInspect(fit, "converged"),
    N_g = I(as.integer(unlist(nobs))),
    J_g = I(as.integer(unlist(ncl))),
    logl = as.numeric(logLik(fit)),
    logl_group = I(as.numeric(fit@loglik$loglik.group)),
    unrestricted_logl_group = I(as.numeric(fit@h1$loglik.group)),
    npar = unname(fm["npar"]),
    df = unname(fm["df"]),
    chisq = unname(fm["chisq"]),
    chisq_group = I(as.numeric(std$stat.group)),
    cfi = unname(fm["cfi"]),
    tli = unname(fm["tli"]),
    rmsea = unname(fm["rmsea"]),
    fit_measures = as.list(setNames(as.numeric(fm), names(fm))),
    parameters = param_records(fit),
    equality_constraints = constraint_records(fit),
    implied = per_group(lavaan::lavInspect(fit, "implied")),
    h1 = per_group(lavaan::lavInspect(fit, "h1"))
  )
}

lrt_record <- function(f_conf, f_metric) {
  a <- as.data.frame(lavaan::lavTestLRT(f_conf, f_metric))
  list(models = I(c("configural", "metric")),
       df = I(as.numeric(a$Df)), aic = I(as.numeric(a$AIC)),
       bic = I(as.numeric(a$BIC)), chisq = I(as.numeric(a$Chisq)),
       chisq_diff = as.numeric(a[["Chisq diff"]][2]),
       df_diff = as.numeric(a[["Df diff"]][2]),
       pvalue = as.numeric(a[["Pr(>Chisq)"]][2]),
       method = attr(lavaan::lavTestLRT(f_conf, f_metric), "heading"))
}

run_split <- function(split, description) {
  message(sprintf("=== groups_%s ===", split))
  d <- d0
  d$g <- d[[paste0("g_", split)]]
  fitf <- function(syntax, ...) {
    r <- with_warnings(lavaan::sem(syntax, data = d, cluster = "cluster",
                                   group = "g", ...), split)
    if (inherits(r$value, "error")) stop(r$value)
    r
  }
  call <- "sem(model, data = d, cluster = \"cluster\", group = \"g\"%s)"
  conf <- fitf(model_configural)
  metr <- fitf(model_metric)
  metr_ge <- fitf(model_configural, group.equal = "loadings")
  res <- list(
    case = paste0("groups_", split),
    description = description,
    lavaan_version = as.character(packageVersion("lavaan")),
    R_version = R.version.string,
    data_file = "tests/reference/lavaan/extras/demo_twolevel_groups.csv",
    group_column = paste0("g_", split),
    vars = I(ys),
    lambda = list(F1 = I(c("y1", "y2", "y3")), F2 = I(c("y4", "y5", "y6"))),
    clusters_group1 = I(sort(unique(d$cluster[d$g == 1L]))),
    clusters_group2 = I(sort(unique(d$cluster[d$g == 2L]))),
    objective_note = paste(
      "lavaan 0.6.14 maximises sum_g (N_g/N) logL_g for two-level multigroup",
      "fits; with cross-group constraints (metric) and unequal N_g these are",
      "not ML estimates. logl is sum_g logL_g at lavaan's estimates."),
    configural = fit_record(conf$value, sprintf(call, ""), model_configural),
    metric = fit_record(metr$value, sprintf(call, ""), model_metric),
    metric_group_equal = fit_record(metr_ge$value,
                                    sprintf(call, ", group.equal = \"loadings\""),
                                    model_configural),
    lrt = lrt_record(conf$value, metr$value),
    warnings = list(configural = I(conf$warnings), metric = I(metr$warnings),
                    metric_group_equal = I(metr_ge$warnings))
  )
  write_exact_json(res, file.path(out_dir, sprintf("groups_%s.json", split)))
  message(sprintf("[%s] configural logl %.6f df %g; metric logl %.6f df %g; group.equal logl %.6f df %g",
                  split, res$configural$logl, res$configural$df, res$metric$logl,
                  res$metric$df, res$metric_group_equal$logl, res$metric_group_equal$df))
  invisible(res)
}

run_split("equal", paste(
  "Demo.twolevel, two groups of clusters with equal N_g: within each cluster",
  "size the clusters (sorted by id) alternate between the groups (J_g = 100,",
  "N_g = 1250)."))
run_split("unequal", paste(
  "Demo.twolevel, two groups of clusters with unequal N_g: cluster id <= 60",
  "vs the rest."))
message("done")
