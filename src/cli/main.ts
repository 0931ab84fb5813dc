import { Command, CommanderError } from 'commander';
import { classifyError } from '../classify-error.ts';
import { packageVersion } from '../package-info.ts';
import { registerDemo } from './commands/demo.ts';
import { registerDiff } from './commands/diff.ts';
import { registerEvaluate } from './commands/evaluate.ts';
import { registerExport } from './commands/export.ts';
import { registerHistory } from './commands/history.ts';
import { registerImport } from './commands/import.ts';
import { registerKeys } from './commands/keys.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerModels } from './commands/models.ts';
import { registerPins } from './commands/pins.ts';
import { registerProcesses } from './commands/processes.ts';
import { registerRuns } from './commands/runs.ts';
import { registerSeed } from './commands/seed.ts';
import { registerVersions } from './commands/versions.ts';
import { type CliIo, createCliContext, processIo } from './context.ts';
import { ExitCode } from './exit-code.ts';

/**
 * Runs the CLI on `argv` (without node and script) and resolves to the exit code; it never calls
 * process.exit, so tests drive it in-process and the bin lets stdout drain before exiting.
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const ctx = createCliContext(io);
  let exitCode: number = ExitCode.ok;
  const ended = argv.indexOf('--');
  const verbose = (ended < 0 ? argv : argv.slice(0, ended)).includes('--verbose');

  // Positional options: the program's own flags come before a command, so that a command's flags
  // keep their meaning (`almanac export m --version 3` is version 3, `almanac --version` the
  // package's).
  const program = new Command('almanac')
    .description('Almanac: scheduled, versioned, drift-checked estimate tables served by key')
    .enablePositionalOptions()
    .version(packageVersion, '-V, --version', 'print the version of almanac')
    .option('--verbose', 'show stack traces of errors')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // a usage error is one line on stderr, as every other error is
      outputError: (text, write) =>
        write(
          `${text
            .replace(/^error: /, '')
            .trim()
            .replaceAll('\n', ' ')} (run with --help for usage)\n`,
        ),
    });

  registerMigrate(program, ctx);
  registerSeed(program, ctx);
  registerModels(program, ctx);
  registerRuns(program, ctx);
  registerVersions(program, ctx);
  registerDiff(program, ctx);
  registerHistory(program, ctx);
  registerPins(program, ctx);
  registerEvaluate(program, ctx);
  registerImport(program, ctx);
  registerExport(program, ctx);
  registerKeys(program, ctx);
  registerProcesses(program, ctx);
  registerDemo(program, ctx);
  for (const command of allCommands(program)) {
    command.exitOverride();
    // --verbose works after a command too
    if (command.commands.length === 0) command.option('--verbose', 'show stack traces of errors');
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    exitCode = ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; every other parse failure is a usage error.
      exitCode =
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
          ? ExitCode.ok
          : ExitCode.usage;
    } else {
      const { message, exitCode: code } = classifyError(error);
      io.stderr.write(`${message}\n`);
      if (verbose && error instanceof Error && error.stack !== undefined) io.stderr.write(`${error.stack}\n`);
      exitCode = code;
    }
  } finally {
    await ctx.close();
  }
  return exitCode;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((child) => [child, ...allCommands(child)]);
}
