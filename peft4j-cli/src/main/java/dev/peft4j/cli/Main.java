/*
 * peft4j command line: `peft4j <command> --help` for each command's options. Errors that peft4j
 * raises on purpose (bad files, bad options) print as one message without a stack trace; set
 * PEFT4J_DEBUG=1 to see the trace.
 */
package dev.peft4j.cli;

import dev.peft4j.Peft4jException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(name = "peft4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Parameter-efficient fine-tuning of LLMs in pure Java, CPU first.",
        subcommands = {QuickstartCommand.class, TrainCommand.class, GenerateCommand.class, ServeCommand.class, ExportCommand.class, MergeCommand.class, QuantizeCommand.class, EvalCommand.class, CompareCommand.class, RunsCommand.class, Adapters.class, InspectCommand.class, TokenizeCommand.class, DataCommand.class, CheckCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    /** --version: the build's version and git commit (dev/peft4j/build.properties, as recorded in provenance.json). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override public String[] getVersion() {
            return new String[] {"peft4j " + dev.peft4j.provenance.BuildInfo.current().describe()};
        }
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (used by tests). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOverwrittenOptionsAllowed(true);     // --config values come first; explicit options override them
        try {
            args = Cli.expandConfig(args);
        } catch (Peft4jException e) {
            System.err.println("error: " + e.getMessage());
            return 2;
        }
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (ex instanceof Peft4jException && System.getenv("PEFT4J_DEBUG") == null) {
                cmd.getErr().println("error: " + ex.getMessage());
                return 2;
            }
            throw ex;
        });
        return execute(cl, args);
    }

    /** Runs a parsed command line; an OutOfMemoryError becomes a one-line error with the fix (exit code 3). */
    static int execute(CommandLine cl, String... args) {
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // The failed allocation's objects are unreachable by now, so printing has room.
            long max = Runtime.getRuntime().maxMemory();
            System.err.println("error: out of memory (" + e.getMessage() + "; Java heap max "
                    + dev.peft4j.Memory.human(max) + "). Fix: give the JVM more heap, e.g. PEFT4J_JVM_OPTS=-Xmx"
                    + Math.max(2, 2 * (max >> 30)) + "g bin/peft4j ..., or need less: smaller --batch-size, "
                    + "--max-length or --max-new-tokens, --quantize nf4, --gradient-checkpointing");
            if (System.getenv("PEFT4J_DEBUG") != null) e.printStackTrace();
            return 3;
        }
    }
}
