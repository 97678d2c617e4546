package dev.peft4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.peft4j.autograd.Tape;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.train.TrainBenchmark;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ProfileTest {
    @AfterEach void off() { Profile.stop(); }

    private static void spin(long micros) {
        long end = System.nanoTime() + micros * 1000;
        while (System.nanoTime() < end) Thread.onSpinWait();
    }

    @Test
    void nestedSpansCountExclusiveTimeAndBackwardClosuresTakeTheKindOpenAtRecording() {
        Profile.start();
        Profile.beginStep();
        Tape tape = new Tape(0);
        try (var _ = Profile.span(Profile.Kind.NORM)) {
            spin(30_000);
            try (var _ = Profile.span(Profile.Kind.LINEAR)) { spin(20_000); }
            tape.record(() -> spin(40_000));                       // recorded inside NORM: NORM's backward
        }
        tape.record(() -> spin(10_000));                           // outside any span: other
        Tensor loss = Tensor.param("w", new float[] {1f}, 1);
        tape.backward(loss);
        Profile.endStep();
        Profile.Report r = Profile.report(1);
        assertThat(r.steps()).isEqualTo(1);
        assertThat(r.row("NORM").forwardMs()).isCloseTo(30, within(8.0));
        assertThat(r.row("LINEAR").forwardMs()).isCloseTo(20, within(8.0));
        assertThat(r.row("NORM").backwardMs()).isCloseTo(40, within(8.0));
        assertThat(r.row("LINEAR").backwardMs()).isZero();
        assertThat(r.row("OTHER").totalMs()).isGreaterThanOrEqualTo(9.0);
        double sum = r.rows().stream().mapToDouble(Profile.Row::totalMs).sum();
        assertThat(sum).isCloseTo(r.stepMs(), within(0.02 * r.stepMs() + 0.5));
    }

    @Test
    void offByDefaultAndSpansAreFree() {
        assertThat(Profile.on()).isFalse();
        Runnable step = () -> { };
        assertThat(Profile.backward(step)).isSameAs(step);         // nothing wrapped when off
        try (var s = Profile.span(Profile.Kind.NORM)) { assertThat(s).isNotNull(); }
    }

    @Test
    void benchmarkProfileAttributesTheStepToItsOps() {
        TrainBenchmark.Result r = TrainBenchmark.run("smollm2-135m", null, 1, 16, 2, 1, false, m -> m, true,
                new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        Profile.Report p = r.profile();
        assertThat(p).isNotNull();
        assertThat(p.steps()).isEqualTo(2);
        for (String k : new String[] {"LINEAR", "ADAPTER", "ATTENTION", "NORM", "ACTIVATION", "ROPE", "LOSS", "OPTIMIZER"})
            assertThat(p.row(k).totalMs()).as(k).isPositive();
        assertThat(p.row("LINEAR").backwardMs()).isPositive();
        assertThat(p.row("ADAPTER").backwardMs()).isPositive();
        double sum = p.rows().stream().mapToDouble(Profile.Row::totalMs).sum();
        assertThat(sum).isCloseTo(p.stepMs(), within(0.05 * p.stepMs()));
        assertThat(p.row("OTHER").share()).isLessThan(0.5);
        assertThat(Profile.on()).isFalse();
    }
}
