# make_reference.R -- generate lavaan reference results for pm_mlvm tests.
#
# Usage (from this folder):
#     cd tests/reference/lavaan && Rscript make_reference.R
#
# Simulates two-level data sets in R (deterministic: set.seed per case),
# writes each one as CSV, fits two-level SEMs with lavaan's public API
# (sem(..., cluster = "cluster")) and writes one JSON file per case with
# lavaan's results.  The test suite only reads the CSV/JSON files; R is not
# needed in CI.
#
# Numbers in the JSON files are written with 17 significant digits
# ("%.17g"), which round-trips IEEE doubles exactly (jsonlite's own
# `digits = NA` stops at 15 significant digits).  Non-finite values
# (NA, NaN, Inf) are written as null.
#
# The data CSVs are written with 15 significant digits; the models are
# fitted to the data *as read back from the CSV*, so the CSV is exactly the
# data lavaan saw.  Missing cells are written as empty fields.

suppressPackageStartupMessages({
  library(MASS)
  library(lavaan)
  library(jsonlite)
})

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
out_dir <- "."

# ---------------------------------------------------------------------------
# data generator
# ---------------------------------------------------------------------------

#' Simulate two-level data from a two-level factor model.
#'
#' Sigma_W = L Bw Psi_W Bw' L' + Theta_W, Sigma_B = L Bb Psi_B Bb' L' +
#' Theta_B, with B = solve(I - beta).  b_j ~ MVN(0, Sigma_B) per cluster,
#' y_ij = nu + b_j + e_ij with e_ij ~ MVN(0, Sigma_W).
simdat_2l <- function(seed, J, sizes, lambda, psi_w, psi_b, theta_w, theta_b,
                      nu, beta_w = NULL, beta_b = NULL, shuffle = FALSE) {
  set.seed(seed)
  p <- nrow(lambda)
  q <- ncol(lambda)
  if (length(sizes) == 1L) {
    n_j <- rep(as.integer(sizes), J)
  } else {
    n_j <- as.integer(sample(sizes, J, replace = TRUE))
  }
  if (is.null(beta_w)) beta_w <- matrix(0, q, q)
  if (is.null(beta_b)) beta_b <- matrix(0, q, q)
  Bw <- solve(diag(q) - beta_w)
  Bb <- solve(diag(q) - beta_b)
  Sigma_W <- lambda %*% Bw %*% psi_w %*% t(Bw) %*% t(lambda) + theta_w
  Sigma_B <- lambda %*% Bb %*% psi_b %*% t(Bb) %*% t(lambda) + theta_b
  Sigma_W <- (Sigma_W + t(Sigma_W)) / 2
  Sigma_B <- (Sigma_B + t(Sigma_B)) / 2

  N <- sum(n_j)
  b <- MASS::mvrnorm(J, mu = rep(0, p), Sigma = Sigma_B)      # J x p
  b <- matrix(b, nrow = J, ncol = p)
  e <- MASS::mvrnorm(N, mu = rep(0, p), Sigma = Sigma_W)      # N x p
  e <- matrix(e, nrow = N, ncol = p)
  cluster <- rep(seq_len(J), times = n_j)
  y <- e + b[cluster, , drop = FALSE] +
    matrix(nu, nrow = N, ncol = p, byrow = TRUE)
  d <- as.data.frame(y)
  names(d) <- paste0("y", seq_len(p))
  d$cluster <- as.integer(cluster)
  if (shuffle) {
    d <- d[sample.int(N), , drop = FALSE]
  }
  rownames(d) <- NULL
  attr(d, "Sigma_W") <- Sigma_W
  attr(d, "Sigma_B") <- Sigma_B
  d
}

# loading matrix with blocks of indicators per factor
make_lambda <- function(loadings_per_factor) {
  p <- sum(lengths(loadings_per_factor))
  q <- length(loadings_per_factor)
  L <- matrix(0, p, q)
  r <- 0
  for (k in seq_len(q)) {
    l <- loadings_per_factor[[k]]
    L[r + seq_along(l), k] <- l
    r <- r + length(l)
  }
  L
}

cs_matrix <- function(q, var, cov) {
  m <- matrix(cov, q, q)
  diag(m) <- var
  m
}

# ---------------------------------------------------------------------------
# lavaan model syntax (loadings labelled equal across levels, marker = first
# indicator, lavaan's default)
# ---------------------------------------------------------------------------

model_syntax <- function(indicators_per_factor, factor_names = NULL,
                         regressions = character(0)) {
  q <- length(indicators_per_factor)
  if (is.null(factor_names)) factor_names <- paste0("F", seq_len(q))
  meas <- character(q)
  for (k in seq_len(q)) {
    ind <- indicators_per_factor[[k]]
    rhs <- c(ind[1], paste0("a", sub("^y", "", ind[-1]), "*", ind[-1]))
    meas[k] <- paste0("  ", factor_names[k], " =~ ", paste(rhs, collapse = " + "))
  }
  reg <- if (length(regressions)) paste0("  ", regressions) else character(0)
  paste(c("level: 1", meas, reg, "level: 2", meas, reg), collapse = "\n")
}

# ---------------------------------------------------------------------------
# CSV writing / reading
# ---------------------------------------------------------------------------

write_data_csv <- function(d, file) {
  out <- d
  for (v in names(out)) {
    if (v == "cluster") next
    x <- out[[v]]
    s <- sprintf("%.15g", x)
    s[is.na(x)] <- ""
    out[[v]] <- s
  }
  out <- out[, c(grep("^y", names(out), value = TRUE), "cluster")]
  utils::write.csv(out, file.path(out_dir, file), row.names = FALSE,
                   quote = FALSE, na = "")
  invisible(file)
}

read_data_csv <- function(file) {
  d <- utils::read.csv(file.path(out_dir, file), na.strings = c("", "NA"),
                       colClasses = "numeric")
  d$cluster <- as.integer(d$cluster)
  d
}

# ---------------------------------------------------------------------------
# JSON writing with full double precision
# ---------------------------------------------------------------------------

num_str <- function(x) {
  s <- sprintf("%.17g", x)
  s[!is.finite(x)] <- "null"
  s
}

# Convert all numeric leaves into verbatim JSON text ("%.17g").
# Numeric matrices -> array of rows; numeric vectors of length 1 -> scalar
# unless wrapped in I(); longer numeric vectors -> arrays.
exactify <- function(x) {
  if (is.list(x) && !is.data.frame(x)) {
    keep_class <- inherits(x, "AsIs")
    y <- lapply(x, exactify)
    if (keep_class) class(y) <- "AsIs"
    return(y)
  }
  if (is.numeric(x) && !is.null(dim(x)) && length(dim(x)) == 2L) {
    rows <- vapply(seq_len(nrow(x)), function(i) {
      paste0("[", paste(num_str(as.numeric(x[i, ])), collapse = ","), "]")
    }, character(1))
    return(structure(paste0("[", paste(rows, collapse = ","), "]"),
                     class = "json"))
  }
  if (is.numeric(x)) {
    x_is_array <- inherits(x, "AsIs") || length(x) != 1L
    v <- num_str(as.numeric(unclass(x)))
    if (x_is_array) {
      return(structure(paste0("[", paste(v, collapse = ","), "]"),
                       class = "json"))
    }
    return(structure(v, class = "json"))
  }
  if (is.logical(x) && length(x) == 1L && is.na(x)) {
    return(structure("null", class = "json"))
  }
  x
}

write_exact_json <- function(obj, file) {
  txt <- jsonlite::toJSON(exactify(obj), auto_unbox = TRUE, pretty = TRUE,
                          json_verbatim = TRUE, na = "null", null = "null",
                          digits = NA)
  writeLines(txt, file.path(out_dir, file), useBytes = TRUE)
  invisible(file)
}

# ---------------------------------------------------------------------------
# fitting helpers
# ---------------------------------------------------------------------------

# Evaluate expr, collecting (and printing) warnings.
with_warnings <- function(expr, tag) {
  w <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) e),
    warning = function(cond) {
      msg <- conditionMessage(cond)
      w <<- c(w, msg)
      message(sprintf("[%s] WARNING: %s", tag, msg))
      invokeRestart("muffleWarning")
    }
  )
  list(value = val, warnings = w)
}

fit_lavaan <- function(model, d, missing_ml, information = NULL) {
  missing <- if (missing_ml) "ml" else "listwise"
  if (is.null(information)) {
    lavaan::sem(model, data = d, cluster = "cluster", missing = missing)
  } else {
    lavaan::sem(model, data = d, cluster = "cluster", missing = missing,
                information = information)
  }
}

matrix_rows <- function(m) unname(as.matrix(unclass(m)))

level_block <- function(lst, i) {
  b <- lst[[i]]
  cv <- unclass(b$cov)
  list(
    vars = I(rownames(cv)),
    cov = matrix_rows(cv),
    mean = I(unname(as.numeric(b$mean)))
  )
}

two_levels <- function(lst) {
  # lavaan names the levels "within" and (the cluster variable) "cluster"
  stopifnot(length(lst) == 2L)
  list(
    lavaan_level_names = I(names(lst)),
    within = level_block(lst, 1L),
    between = level_block(lst, 2L)
  )
}

run_case <- function(case, description, model, data_file, missing_ml = FALSE,
                     extra = list()) {
  message(sprintf("=== case %s ===", case))
  d <- read_data_csv(data_file)

  # --- default fit (information = "observed" for multilevel) --------------
  r_obs <- with_warnings(fit_lavaan(model, d, missing_ml), paste0(case, "/observed"))
  if (inherits(r_obs$value, "error")) stop(r_obs$value)
  fit <- r_obs$value

  # --- expected information fit -------------------------------------------
  r_exp <- with_warnings(fit_lavaan(model, d, missing_ml, information = "expected"),
                         paste0(case, "/expected"))
  fit_e <- NULL
  expected_note <- NULL
  if (inherits(r_exp$value, "error")) {
    expected_note <- paste("lavaan refused information = 'expected':",
                           conditionMessage(r_exp$value))
    message(sprintf("[%s] %s", case, expected_note))
  } else {
    fit_e <- r_exp$value
  }

  # --- timing: median elapsed of 3 default fits ---------------------------
  times <- vapply(1:3, function(i) {
    unname(system.time(suppressWarnings(fit_lavaan(model, d, missing_ml)))["elapsed"])
  }, numeric(1))

  # --- parameters ----------------------------------------------------------
  pe <- lavaan::parameterEstimates(fit)
  pt <- lavaan::parTable(fit)
  key_pe <- paste(pe$lhs, pe$op, pe$rhs, pe$block, sep = "|")
  key_pt <- paste(pt$lhs, pt$op, pt$rhs, pt$block, sep = "|")
  stopifnot(!anyDuplicated(key_pt), all(key_pe %in% key_pt))
  ipt <- match(key_pe, key_pt)

  se_exp <- rep(NA_real_, nrow(pe))
  est_exp <- rep(NA_real_, nrow(pe))
  if (!is.null(fit_e)) {
    pe_e <- lavaan::parameterEstimates(fit_e)
    stopifnot(nrow(pe_e) == nrow(pe),
              identical(pe_e$lhs, pe$lhs), identical(pe_e$op, pe$op),
              identical(pe_e$rhs, pe$rhs), identical(pe_e$level, pe$level),
              identical(pe_e$block, pe$block))
    se_exp <- pe_e$se
    est_exp <- pe_e$est
    message(sprintf("[%s] max |est_obs - est_exp| = %.3g", case,
                    max(abs(pe$est - est_exp))))
  }

  params <- lapply(seq_len(nrow(pe)), function(i) {
    list(
      lhs = pe$lhs[i], op = pe$op[i], rhs = pe$rhs[i],
      block = as.integer(pe$block[i]), level = as.integer(pe$level[i]),
      label = pe$label[i],
      plabel = pt$plabel[ipt[i]],
      free = pt$free[ipt[i]] > 0,
      free_index = as.integer(pt$free[ipt[i]]),
      est = pe$est[i], se = pe$se[i], z = pe$z[i], pvalue = pe$pvalue[i],
      est_expected = est_exp[i], se_expected = se_exp[i]
    )
  })

  # equality constraints that lavaan generated from the shared labels
  ceq <- pt[pt$op == "==", c("lhs", "op", "rhs")]
  constraints <- lapply(seq_len(nrow(ceq)), function(i) {
    list(lhs = ceq$lhs[i], op = ceq$op[i], rhs = ceq$rhs[i])
  })

  # --- fit measures ----------------------------------------------------------
  r_fm <- with_warnings(lavaan::fitMeasures(fit), paste0(case, "/fitMeasures"))
  if (inherits(r_fm$value, "error")) stop(r_fm$value)
  fm <- r_fm$value
  fm_list <- as.list(setNames(as.numeric(fm), names(fm)))

  # --- baseline (independence) model --------------------------------------
  r_base <- with_warnings(lavaan:::lav_object_independence(fit),
                          paste0(case, "/baseline"))
  baseline <- list(
    logl_from_fitmeasures_chisq =
      unname(fm["unrestricted.logl"] - fm["baseline.chisq"] / 2),
    note = paste("fitMeasures() of lavaan 0.6.14 has no 'baseline.logl';",
                 "logl_from_fitmeasures_chisq = unrestricted.logl -",
                 "baseline.chisq / 2")
  )
  if (inherits(r_base$value, "error")) {
    baseline$error <- conditionMessage(r_base$value)
  } else {
    b <- r_base$value
    pe_b <- lavaan::parameterEstimates(b)
    baseline$method <- "lavaan:::lav_object_independence(fit)"
    baseline$logl <- as.numeric(logLik(b))
    baseline$npar <- unname(lavaan::fitMeasures(b, "npar"))
    baseline$converged <- lavaan::lavInspect(b, "converged")
    baseline$warnings <- I(r_base$warnings)
    baseline$parameters <- lapply(seq_len(nrow(pe_b)), function(i) {
      list(lhs = pe_b$lhs[i], op = pe_b$op[i], rhs = pe_b$rhs[i],
           level = as.integer(pe_b$level[i]), est = pe_b$est[i],
           se = pe_b$se[i])
    })
  }

  nclus <- lavaan::lavInspect(fit, "nclusters")
  csize <- as.integer(table(d$cluster))
  opts <- lavaan::lavInspect(fit, "options")

  res <- list(
    case = case,
    description = description,
    lavaan_version = as.character(packageVersion("lavaan")),
    R_version = R.version.string,
    data_file = data_file,
    model_syntax = model,
    lavaan_call = sprintf("sem(model, data = d, cluster = \"cluster\"%s)",
                          if (missing_ml) ", missing = \"ml\"" else ""),
    N = as.integer(sum(lavaan::lavInspect(fit, "nobs"))),
    J = as.integer(unlist(nclus)[1]),
    cluster_sizes = list(min = min(csize), max = max(csize),
                         mean = mean(csize),
                         n_singletons = sum(csize == 1L)),
    npar = unname(fm["npar"]),
    df = unname(fm["df"]),
    converged = lavaan::lavInspect(fit, "converged"),
    iterations = as.integer(lavaan::lavInspect(fit, "iterations")),
    estimator = opts$estimator,
    optim_method = opts$optim.method,
    information_default_fit = opts$information[1],
    information_expected_fit = if (is.null(fit_e)) NULL else
      lavaan::lavInspect(fit_e, "options")$information[1],
    expected_information_note = expected_note,
    warnings = list(observed = I(r_obs$warnings),
                    expected = I(r_exp$warnings),
                    fit_measures = I(r_fm$warnings)),
    timing_sem_seconds = stats::median(times),
    timing_sem_seconds_all = I(times),
    fit_measures = fm_list,
    loglik = as.numeric(logLik(fit)),
    unrestricted_logl = unname(fm["unrestricted.logl"]),
    baseline_logl = if (!is.null(baseline$logl)) baseline$logl else
      baseline$logl_from_fitmeasures_chisq,
    parameters = params,
    equality_constraints = constraints,
    implied = two_levels(lavaan::lavInspect(fit, "implied")),
    h1 = two_levels(lavaan::lavInspect(fit, "h1")),
    baseline = baseline
  )
  if (missing_ml) {
    ys <- grep("^y", names(d), value = TRUE)
    miss <- is.na(as.matrix(d[, ys]))
    res$missing <- list(
      n_missing_cells = sum(miss),
      n_cells = length(miss),
      proportion_missing = mean(miss),
      n_rows_with_missing = sum(rowSums(miss) > 0),
      n_complete_rows = sum(rowSums(miss) == 0),
      n_missing_by_variable = as.list(setNames(as.integer(colSums(miss)), ys)),
      n_patterns = nrow(unique(miss))
    )
  }
  res <- c(res, extra)
  json_file <- paste0(case, ".json")
  write_exact_json(res, json_file)
  message(sprintf("[%s] wrote %s (logl = %.6f, df = %g, chisq = %.6f)", case,
                  json_file, res$loglik, res$df, fm[["chisq"]]))
  invisible(res)
}

# generating-values record for the JSON
truth <- function(seed, J, sizes, lambda, psi_w, psi_b, theta_w, theta_b, nu,
                  beta_w = NULL, beta_b = NULL, shuffle = FALSE, d = NULL) {
  list(
    seed = seed, J = J, sizes = I(sizes), shuffled_rows = shuffle,
    lambda = lambda, psi_w = psi_w, psi_b = psi_b,
    theta_w = theta_w, theta_b = theta_b, nu = I(nu),
    beta_w = beta_w, beta_b = beta_b,
    Sigma_W = if (!is.null(d)) attr(d, "Sigma_W") else NULL,
    Sigma_B = if (!is.null(d)) attr(d, "Sigma_B") else NULL
  )
}

# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------

ind2 <- list(c("y1", "y2", "y3"), c("y4", "y5", "y6"))
model_2f <- model_syntax(ind2)

# 1. cfa_balanced -----------------------------------------------------------
g1 <- list(seed = 2, J = 60, sizes = 10,
           lambda = make_lambda(list(c(1, .8, .6), c(1, .8, .6))),
           psi_w = diag(2), psi_b = 0.5 * diag(2),
           theta_w = 0.5 * diag(6), theta_b = 0.3 * diag(6), nu = rep(0, 6))
d1 <- do.call(simdat_2l, g1)
write_data_csv(d1, "cfa_balanced.csv")
run_case("cfa_balanced",
         "Balanced two-factor CFA (60 clusters x 10), loadings equal across levels.",
         model_2f, "cfa_balanced.csv",
         extra = list(generating_values = do.call(truth, c(g1, list(d = d1)))))

# 2. cfa_unbalanced ---------------------------------------------------------
g2 <- list(seed = 321, J = 80, sizes = c(1, 1, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15),
           lambda = make_lambda(list(c(1, .8, .7), c(1, .9, .6))),
           psi_w = matrix(c(1, .3, .3, 1), 2), psi_b = matrix(c(.5, .2, .2, .4), 2),
           theta_w = 0.5 * diag(6), theta_b = 0.15 * diag(6),
           nu = seq(0.5, 3, length.out = 6), shuffle = TRUE)
d2 <- do.call(simdat_2l, g2)
write_data_csv(d2, "cfa_unbalanced.csv")
run_case("cfa_unbalanced",
         "Unbalanced two-factor CFA (80 clusters, sizes 1..15 incl. singletons), rows shuffled.",
         model_2f, "cfa_unbalanced.csv",
         extra = list(generating_values = do.call(truth, c(g2, list(d = d2)))))

# 3. cfa_p9q3 -----------------------------------------------------------------
ind3 <- list(c("y1", "y2", "y3"), c("y4", "y5", "y6"), c("y7", "y8", "y9"))
g3 <- list(seed = 99, J = 100, sizes = 5:15,
           lambda = make_lambda(rep(list(c(1, .8, .7)), 3)),
           psi_w = cs_matrix(3, 1, .3), psi_b = cs_matrix(3, .5, .2),
           theta_w = 0.5 * diag(9), theta_b = 0.2 * diag(9),
           nu = seq(0, 2, length.out = 9))
d3 <- do.call(simdat_2l, g3)
write_data_csv(d3, "cfa_p9q3.csv")
run_case("cfa_p9q3",
         "Three-factor CFA, 9 indicators, 100 clusters of size 5..15.",
         model_syntax(ind3), "cfa_p9q3.csv",
         extra = list(generating_values = do.call(truth, c(g3, list(d = d3)))))

# 4. sem_regression -------------------------------------------------------------
bw <- matrix(0, 2, 2); bw[2, 1] <- 0.5
bb <- matrix(0, 2, 2); bb[2, 1] <- 0.4
g4 <- list(seed = 7, J = 100, sizes = 8:12,
           lambda = make_lambda(list(c(1, .8, .6), c(1, .8, .6))),
           psi_w = diag(c(1, .75)), psi_b = diag(c(.5, .3)),
           theta_w = 0.5 * diag(6), theta_b = 0.3 * diag(6), nu = rep(0, 6),
           beta_w = bw, beta_b = bb)
d4 <- do.call(simdat_2l, g4)
write_data_csv(d4, "sem_regression.csv")
run_case("sem_regression",
         "Two-factor SEM with F2 ~ F1 on both levels, 100 clusters of size 8..12.",
         model_syntax(ind2, regressions = "F2 ~ F1"), "sem_regression.csv",
         extra = list(generating_values = do.call(truth, c(g4, list(d = d4)))))

# 5. cfa_onefactor_misspecified (data of case 1) -------------------------------
run_case("cfa_onefactor_misspecified",
         "Case 1 data (cfa_balanced.csv) fitted with a one-factor model: misfit, positive RMSEA.",
         model_syntax(list(paste0("y", 1:6))), "cfa_balanced.csv",
         extra = list(generating_values = do.call(truth, c(g1, list(d = d1)))))

# 6. missing_mcar_balanced ------------------------------------------------------
g6 <- g1; g6$seed <- 42; g6$J <- 100
d6 <- do.call(simdat_2l, g6)
# MCAR: 10% of cells NA (RNG stream continues after the data generation)
ys6 <- paste0("y", 1:6)
M6 <- matrix(runif(nrow(d6) * 6) < 0.10, nrow(d6), 6)
for (i in which(rowSums(M6) == 6)) M6[i, sample.int(6, 1)] <- FALSE
for (k in 1:6) d6[[ys6[k]]][M6[, k]] <- NA
write_data_csv(d6, "missing_mcar_balanced.csv")
run_case("missing_mcar_balanced",
         "Case-1 design with 100 clusters x 10, 10% MCAR missing cells, missing = 'ml'.",
         model_2f, "missing_mcar_balanced.csv", missing_ml = TRUE,
         extra = list(generating_values = do.call(truth, c(g6, list(d = d6))),
                      missingness = "MCAR: each cell NA with prob 0.10; all-NA rows get one random cell restored"))

# 7. missing_mar_unbalanced ------------------------------------------------------
g7 <- g2; g7$seed <- 9001; g7$J <- 100; g7$sizes <- 5:15; g7$shuffle <- TRUE
d7 <- do.call(simdat_2l, g7)
# lavaan 0.6.14 with cluster= and missing = "ml" does not converge when the
# rows are not sorted by cluster id (optimizer stops after 1 iteration, "a
# solution has NOT been found"; cf. github.com/yrosseel/lavaan/issues/379).
# Complete-data fits are row-order invariant (checked on case 2), so the
# generated (shuffled) rows are stably re-sorted by cluster here; the order of
# the rows *within* each cluster stays shuffled.
d7 <- d7[order(d7$cluster), , drop = FALSE]
rownames(d7) <- NULL
z1 <- (d7$y1 - mean(d7$y1)) / sd(d7$y1)
p_miss <- plogis(-2.6 + 1.0 * z1)
for (v in paste0("y", 2:6)) {
  d7[[v]][runif(nrow(d7)) < p_miss] <- NA
}
write_data_csv(d7, "missing_mar_unbalanced.csv")
run_case("missing_mar_unbalanced",
         "Case-2 design, 100 clusters of size 5..15 (rows sorted by cluster, shuffled within cluster), MAR missingness on y2..y6 driven by y1, missing = 'ml'.",
         model_2f, "missing_mar_unbalanced.csv", missing_ml = TRUE,
         extra = list(generating_values = do.call(truth, c(g7, list(d = d7))),
                      missingness = "MAR: y1 always observed; y2..y6 each NA with prob plogis(-2.6 + 1.0 * standardized y1)",
                      row_order_note = paste("Rows shuffled by simdat_2l, then stably sorted by cluster id because",
                                             "lavaan 0.6.14 (missing = 'ml' + cluster) fails to converge on data not",
                                             "sorted by cluster (lavaan issue #379); rows within a cluster stay shuffled.")))

# ---------------------------------------------------------------------------
# versions
# ---------------------------------------------------------------------------

write_exact_json(list(
  R_version = R.version.string,
  lavaan_version = as.character(packageVersion("lavaan")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  MASS_version = as.character(packageVersion("MASS")),
  RNGkind = I(RNGkind()),
  platform = R.version$platform
), "versions.json")

message("done")
