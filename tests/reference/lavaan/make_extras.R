# make_extras.R -- lavaan 0.6.14 oracles for standardized solutions, ICCs,
# factor scores (lavPredict) and MLR (robust SEs, Yuan-Bentler scaled test,
# robust fit indices) of two-level CFAs.
#
# Usage (from this folder):
#     cd tests/reference/lavaan && Rscript make_extras.R      # ~1 minute
#
# Writes extras/<case>.json for the cases below (and extras/demo_twolevel.csv,
# lavaan's own Demo.twolevel data, y1..y6 and cluster).  Every case fits
#     level: 1  F1 =~ y1 + a2*y2 + a3*y3 ; F2 =~ y4 + a5*y5 + a6*y6
#     level: 2  (the same, same labels: loadings equal across levels)
# with sem(model, data = d, cluster = "cluster") twice: estimator = "ML"
# (standardized solutions, ICC, h1, lavPredict) and estimator = "MLR"
# (robust SEs, scaled test, robust indices, the information matrices of the
# sandwich).  See README.md ("Extras") for every field.  No simulation, no
# randomness: the data files already exist (or ship with lavaan).

source("lavaan_json.R")

out_dir <- "extras"
dir.create(out_dir, showWarnings = FALSE)

model_2f <- paste(
  "level: 1",
  "  F1 =~ y1 + a2*y2 + a3*y3",
  "  F2 =~ y4 + a5*y5 + a6*y6",
  "level: 2",
  "  F1 =~ y1 + a2*y2 + a3*y3",
  "  F2 =~ y4 + a5*y5 + a6*y6", sep = "\n")
ys <- paste0("y", 1:6)

# Run f(); on error return list(error = message) so that a lavaan failure is
# recorded instead of stopping the script.  Warnings go to part_warnings
# (written per case under "warnings").
part_warnings <- list()
part <- function(tag, f) {
  r <- with_warnings(f(), tag)
  if (length(r$warnings)) part_warnings[[tag]] <<- I(r$warnings)
  if (inherits(r$value, "error")) {
    message(sprintf("[%s] ERROR: %s", tag, conditionMessage(r$value)))
    return(list(error = conditionMessage(r$value)))
  }
  r$value
}

# lavPredict(level = 2) rows follow the clusters' order of first appearance.
predict_block <- function(fit, d, level) {
  fs <- lavaan::lavPredict(fit, level = level)
  out <- list(factors = I(colnames(fs)), scores = matrix_rows(fs))
  if (level == 2L) out$cluster_ids <- I(unique(d$cluster))
  out
}

ml_part <- function(fit, d) {
  list(
    logl = as.numeric(logLik(fit)),
    npar = unname(lavaan::fitMeasures(fit, "npar")),
    converged = lavaan::lavInspect(fit, "converged"),
    parameters = param_records(fit),
    equality_constraints = constraint_records(fit),
    std_all = part("std.all", function() std_records(fit, "std.all")),
    std_lv = part("std.lv", function() std_records(fit, "std.lv")),
    icc = part("icc", function() {
      x <- lavaan::lavInspect(fit, "icc")
      list(vars = I(names(x)), values = I(unname(as.numeric(x))))
    }),
    h1 = part("h1", function() two_levels(lavaan::lavInspect(fit, "h1"))),
    implied = two_levels(lavaan::lavInspect(fit, "implied")),
    cov_lv = part("cov.lv", function() {
      cl <- lavaan::lavInspect(fit, "cov.lv")
      list(within = named_matrix(cl[[1L]]), between = named_matrix(cl[[2L]]))
    }),
    predict_level1 = part("lavPredict1", function() predict_block(fit, d, 1L)),
    predict_level2 = part("lavPredict2", function() predict_block(fit, d, 2L)),
    vcov = named_matrix(lavaan::vcov(fit))
  )
}

mlr_part <- function(fit) {
  yb <- fit@test[["yuan.bentler.mplus"]]
  list(
    logl = as.numeric(logLik(fit)),
    converged = lavaan::lavInspect(fit, "converged"),
    options = list(se = lavaan::lavInspect(fit, "options")$se,
                   test = I(lavaan::lavInspect(fit, "options")$test),
                   information = I(lavaan::lavInspect(fit, "options")$information)),
    parameters = param_records(fit),
    equality_constraints = constraint_records(fit),
    fit_measures = fit_measures_list(fit),
    std_all = part("MLR std.all", function() std_records(fit, "std.all")),
    vcov = named_matrix(lavaan::vcov(fit)),
    information = named_matrix(lavaan::lavInspect(fit, "information")),
    information_first_order =
      named_matrix(lavaan::lavInspect(fit, "information.first.order")),
    inverted_information =
      named_matrix(lavaan::lavInspect(fit, "inverted.information")),
    yuan_bentler = list(
      chisq = unname(fit@test[["standard"]]$stat),
      df = unname(yb$df),
      scaling_factor = as.numeric(yb$scaling.factor),
      trace_ugamma = as.numeric(yb$trace.UGamma),
      trace_h1 = as.numeric(attr(yb$scaling.factor, "h1")),
      trace_h0 = as.numeric(attr(yb$scaling.factor, "h0")),
      h1_ndat = as.numeric(attr(yb$scaling.factor, "h1.ndat")),
      scaling_factor_h1 = as.numeric(yb$scaling.factor.h1),
      scaling_factor_h0 = as.numeric(yb$scaling.factor.h0),
      chisq_scaled = as.numeric(yb$stat),
      pvalue_scaled = as.numeric(yb$pvalue)
    )
  )
}

run_case <- function(case, description, data_file, d, missing = "listwise") {
  message(sprintf("=== %s ===", case))
  part_warnings <<- list()
  fit_ml <- with_warnings(
    lavaan::sem(model_2f, data = d, cluster = "cluster", missing = missing),
    paste0(case, "/ML"))
  fit_mlr <- with_warnings(
    lavaan::sem(model_2f, data = d, cluster = "cluster", missing = missing,
                estimator = "MLR"),
    paste0(case, "/MLR"))
  csize <- as.integer(table(d$cluster))
  res <- list(
    case = case,
    description = description,
    lavaan_version = as.character(packageVersion("lavaan")),
    R_version = R.version.string,
    data_file = data_file,
    vars = I(ys),
    model_syntax = model_2f,
    lambda = list(F1 = I(c("y1", "y2", "y3")), F2 = I(c("y4", "y5", "y6"))),
    missing = missing,
    N = nrow(d),
    J = length(unique(d$cluster)),
    cluster_sizes = list(min = min(csize), max = max(csize),
                         n_singletons = sum(csize == 1L)),
    lavaan_call_ml = sprintf(
      "sem(model, data = d, cluster = \"cluster\", missing = \"%s\")", missing),
    lavaan_call_mlr = sprintf(
      "sem(model, data = d, cluster = \"cluster\", missing = \"%s\", estimator = \"MLR\")",
      missing)
  )
  if (inherits(fit_ml$value, "error")) {
    res$ml <- list(error = conditionMessage(fit_ml$value))
  } else {
    res$ml <- ml_part(fit_ml$value, d)
    res$ml$fit_warnings <- I(fit_ml$warnings)
  }
  if (inherits(fit_mlr$value, "error")) {
    res$mlr <- list(error = conditionMessage(fit_mlr$value),
                    fit_warnings = I(fit_mlr$warnings))
  } else {
    res$mlr <- mlr_part(fit_mlr$value)
    res$mlr$fit_warnings <- I(fit_mlr$warnings)
  }
  res$warnings <- part_warnings
  part_warnings <<- list()
  write_exact_json(res, file.path(out_dir, paste0(case, ".json")))
  message(sprintf("[%s] wrote extras/%s.json", case, case))
  invisible(res)
}

# 1. the seed design (600 rows, 60 clusters of 10), simulated in NumPy earlier; kept here
#    as a fixed CSV (the package now ships the seed document's own R data) -------------
seed_file <- "extras/seed_example.csv"
run_case("seed_example",
         "the seed design simulated in NumPy (tests/reference/lavaan/extras/seed_example.csv).",
         "tests/reference/lavaan/extras/seed_example.csv", read_data_csv(seed_file))

# 2. lavaan's Demo.twolevel (2500 rows, 200 clusters of 5/10/15/20) ----------
utils::data("Demo.twolevel", package = "lavaan")
write_data_csv(Demo.twolevel, file.path(out_dir, "demo_twolevel.csv"), ys)
run_case("demo_twolevel",
         "lavaan's Demo.twolevel (y1..y6 and cluster only), as written to extras/demo_twolevel.csv.",
         "tests/reference/lavaan/extras/demo_twolevel.csv",
         read_data_csv(file.path(out_dir, "demo_twolevel.csv")))

# 3. unbalanced with 25 singleton clusters, rows shuffled --------------------
run_case("cfa_unbalanced",
         "cfa_unbalanced.csv: 80 clusters of size 1..15 (25 singletons), rows shuffled.",
         "tests/reference/lavaan/cfa_unbalanced.csv",
         read_data_csv("cfa_unbalanced.csv"))

# 4. missing data (FIML); MLR is expected to fail in lavaan 0.6.14 -----------
run_case("missing_mcar_balanced",
         paste("missing_mcar_balanced.csv with missing = 'ml'. lavaan 0.6.14 cannot do",
               "two-level MLR with missing = 'ml' (the error is recorded under mlr.error)",
               "and lavPredict fails for two-level FIML fits (recorded likewise)."),
         "tests/reference/lavaan/missing_mcar_balanced.csv",
         read_data_csv("missing_mcar_balanced.csv"), missing = "ml")

message("done")
