import { z } from 'zod';
import { PermanentError } from '../../errors.ts';
import { choleskySolve, SingularMatrixError } from '../linear-algebra.ts';
import { type Artifact, type Estimator, floatLiteral } from './types.ts';

/**
 * Ridge regression: minimises ‖y − ȳ − Zβ‖² + α‖β‖² over features Z standardized with their
 * population std; the intercept (ȳ) is not penalised. A constant feature carries no information
 * and gets β = 0.
 */

const params = z.object({ alpha: z.number().finite().min(0, 'must be 0 or more').default(1) }).strict();

export type RidgeArtifact = Artifact & {
  estimator: 'ridge';
  alpha: number;
  intercept: number;
  means: number[];
  stds: number[];
  coefficients: number[];
};

export const ridge: Estimator<z.infer<typeof params>, RidgeArtifact> = {
  needsSource: true,
  params,

  fit({ params: { alpha }, features, stats }) {
    const stds = stats.featureCov.map((row, j) => Math.sqrt(Math.max(row[j] ?? 0, 0)));
    const used = features.map((_, j) => j).filter((j) => (stds[j] ?? 0) > 0);
    const sd = (j: number) => stds[j] ?? 1;
    // Normal equations in standardized space: (ZᵀZ + αI) β = Zᵀ(y − ȳ), with ZᵀZ = n · corr.
    const a = used.map((j) =>
      used.map((k) => (stats.n * (stats.featureCov[j]?.[k] ?? 0)) / (sd(j) * sd(k)) + (j === k ? alpha : 0)),
    );
    const b = used.map((j) => (stats.n * (stats.featureTargetCov[j] ?? 0)) / sd(j));
    let solved: number[];
    try {
      solved = used.length === 0 ? [] : choleskySolve(a, b);
    } catch (error) {
      if (!(error instanceof SingularMatrixError)) throw error;
      const column = features[used[error.column] ?? 0];
      throw new PermanentError(
        `features are collinear (${column} is a combination of the others); set params.alpha above 0 or drop it`,
        { cause: error },
      );
    }
    const coefficients = features.map(() => 0);
    used.forEach((j, i) => {
      coefficients[j] = solved[i] ?? 0;
    });
    return {
      estimator: 'ridge',
      features,
      alpha,
      intercept: stats.targetMean,
      means: stats.featureMeans,
      stds,
      coefficients,
      interval: { lower: 0, upper: 0 },
    };
  },

  predict(artifact, x) {
    let value = artifact.intercept;
    for (let j = 0; j < artifact.coefficients.length; j += 1) {
      const beta = artifact.coefficients[j] ?? 0;
      if (beta !== 0) value += (beta * ((x[j] ?? 0) - (artifact.means[j] ?? 0))) / (artifact.stds[j] ?? 1);
    }
    return value;
  },

  predictSql(artifact, columns) {
    const terms = artifact.coefficients.flatMap((beta, j) =>
      beta === 0
        ? []
        : [
            `${floatLiteral(beta)} * (${columns[j]} - ${floatLiteral(artifact.means[j] ?? 0)}) / ${floatLiteral(artifact.stds[j] ?? 1)}`,
          ],
    );
    return [floatLiteral(artifact.intercept), ...terms].join(' + ');
  },
};
