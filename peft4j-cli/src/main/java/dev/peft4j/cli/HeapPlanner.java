/*
 * HeapPlanner: run by bin/peft4j before a `train` or `bench train`, with the same arguments; prints the JVM heap
 * options for that run (e.g. -Xmx2176m -XX:G1HeapRegionSize=1m, from HeapPlan) or nothing. The arguments are parsed exactly as the command
 * will parse them (--config expanded, picocli), nothing is loaded, and any problem prints nothing: the launcher
 * then keeps its default heap and the real run reports the problem.
 */
package dev.peft4j.cli;

import picocli.CommandLine;

public final class HeapPlanner {
    private HeapPlanner() {}

    public static void main(String[] args) {
        String plan = plan(args);
        if (plan != null) System.out.println(plan);
    }

    /** The heap options for this command line, or null when it cannot be planned. */
    static String plan(String... args) {
        try {
            CommandLine cl = new CommandLine(new Main());
            cl.setOverwrittenOptionsAllowed(true);
            CommandLine.ParseResult pr = cl.parseArgs(Cli.expandConfig(args));
            while (pr.hasSubcommand()) pr = pr.subcommand();
            if (pr.isUsageHelpRequested() || pr.isVersionHelpRequested()) return null;
            if (!(pr.commandSpec().userObject() instanceof HeapPlanned hp)) return null;
            return hp.heapPlan().map(dev.peft4j.train.HeapPlan::jvmOptions).orElse(null);
        } catch (RuntimeException e) {
            return null;
        }
    }
}
