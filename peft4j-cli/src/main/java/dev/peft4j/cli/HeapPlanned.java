/*
 * HeapPlanned: a command that can say, from its parsed options alone (reading at most config.json and file
 * headers), how much Java heap it needs (dev.peft4j.train.HeapPlan). HeapPlanner asks it before the JVM that
 * runs the command starts; the command prints the plan again when it runs.
 */
package dev.peft4j.cli;

import dev.peft4j.train.HeapPlan;
import java.util.Optional;

interface HeapPlanned {
    /** The plan, or empty when this run cannot be planned up front (the launcher then keeps its default heap). */
    Optional<HeapPlan> heapPlan();

    /** The command's plan, or empty when planning fails (the run itself then reports what is wrong). */
    static Optional<HeapPlan> quietly(HeapPlanned command) {
        try {
            return command.heapPlan();
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * One console line at the start of the run: the plan and the heap this JVM really has, with a warning when the
     * heap is smaller than the plan (an -Xmx given by hand, or a launcher other than bin/peft4j).
     */
    static void report(Optional<HeapPlan> plan, java.io.PrintStream out) {
        if (plan.isEmpty()) return;
        long max = Runtime.getRuntime().maxMemory() >> 20, want = plan.get().heapBytes() >> 20;
        out.println("heap plan: " + plan.get().describe() + " MB; this JVM's max heap " + max + " MB");
        long ram = machineMemoryMb();
        if (ram > 0 && want > ram * 9 / 10)
            out.println("warning: this run plans " + want + " MB of Java heap, more than 90% of this machine's " + ram + " MB: it may not fit; "
                    + "need less with --gradient-checkpointing (keeps one block's activations), --quantize nf4, or a smaller batch or sequence length");
        else if (max < want * 9 / 10)
            out.println("warning: the Java heap (" + max + " MB) is smaller than this run's plan (" + want + " MB): it may run out of memory; "
                    + "bin/peft4j sizes it by itself, or set PEFT4J_JVM_OPTS=" + plan.get().xmx());
    }

    /** Physical memory of this machine in MB, or -1 when the platform does not say. */
    private static long machineMemoryMb() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
            return os.getTotalMemorySize() >> 20;
        return -1;
    }
}
