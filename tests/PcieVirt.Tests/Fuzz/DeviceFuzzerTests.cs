using PcieVirt.Hypervisor.Fuzz;
using PcieVirt.Pci.Config;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Fuzz;

public class DeviceFuzzerTests
{
    static PlatformModel DefaultModel() =>
        PlatformModel.Parse(PlatformModel.ReadDefaultJson(), "default.json").Model ?? throw new InvalidOperationException("default.json does not parse");

    static FuzzResult Run(long iterations, ulong seed, Action<DeviceFuzzer, FuzzStep>? hook = null, int vfs = 4, bool timed = false) =>
        new DeviceFuzzer(DefaultModel(), new FuzzOptions { Iterations = iterations, Seed = seed, Vfs = vfs, StepHook = hook, Timed = timed }).Run();

    [Test]
    public void The_same_seed_gives_the_same_steps_and_summary()
    {
        var a = new List<FuzzStep>();
        var b = new List<FuzzStep>();
        var ra = Run(3000, 42, (_, s) => a.Add(s));
        var rb = Run(3000, 42, (_, s) => b.Add(s));
        Assert.That(b, Is.EqualTo(a));
        Assert.That(rb.StepsByKind, Is.EqualTo(ra.StepsByKind));
        Assert.That((rb.Fingerprint, rb.BlocksWritten, rb.BlocksVerified, rb.FuzzCommandErrors, rb.IommuFaults, rb.Recoveries),
            Is.EqualTo((ra.Fingerprint, ra.BlocksWritten, ra.BlocksVerified, ra.FuzzCommandErrors, ra.IommuFaults, ra.Recoveries)));
        Assert.That(rb.ToText(), Is.EqualTo(ra.ToText()));

        var c = new List<FuzzStep>();
        Run(3000, 43, (_, s) => c.Add(s));
        Assert.That(c, Is.Not.EqualTo(a), "another seed, other steps");
    }

    [Test]
    public void A_prefix_of_a_run_replays_the_same_steps()
    {
        // What the replay hint relies on: running K+1 iterations repeats the first K+1 steps of a longer run.
        var longRun = new List<FuzzStep>();
        var shortRun = new List<FuzzStep>();
        Run(2000, 9, (_, s) => longRun.Add(s));
        Run(700, 9, (_, s) => shortRun.Add(s));
        Assert.That(shortRun, Is.EqualTo(longRun.Take(700)));
    }

    [Test]
    public void A_clean_run_of_a_few_thousand_steps_exercises_every_kind_and_breaks_nothing()
    {
        var r = Run(6000, 2024);
        Assert.That(r.ViolationCount, Is.Zero, r.ToText());
        Assert.That(r.Iterations, Is.EqualTo(6000));
        foreach (var k in Enum.GetValues<FuzzStepKind>()) Assert.That(r.StepsByKind[(int)k], Is.Positive, k.ToString());
        // The run did what it claims: acknowledged data written and read back, malformed commands refused,
        // and some VF DMA refused by the IOMMU.
        Assert.That(r.BlocksWritten, Is.GreaterThan(500));
        Assert.That(r.BlocksVerified, Is.GreaterThan(500));
        Assert.That(r.FuzzCommandErrors, Is.GreaterThan(100));
        Assert.That(r.IommuFaults, Is.Positive);
        Assert.That(r.ReplayHint, Is.Null);
    }

    [Test]
    public void A_read_only_byte_changed_behind_the_masks_is_a_violation_at_that_step()
    {
        var r = Run(300, 5, (f, s) =>
        {
            if (s.Index == 120) f.FunctionOf(f.Lanes[0])!.Config.SetRaw(PciRegs.DeviceId, 2, 0xBEEF);
        });
        var v = r.Violations.First();
        Assert.That((v.Step, v.Invariant), Is.EqualTo((120L, FuzzInvariant.ReadOnlyRegister)), r.ToText());
        Assert.That(v.Message, Does.Contain("0x002"));
        Assert.That(r.ReplayHint, Is.EqualTo("pcievirt fuzz --seed 5 --iterations 121"));
    }

    [Test]
    public void A_write_to_sentinel_ram_is_a_dma_isolation_violation()
    {
        var r = Run(300, 6, (f, s) =>
        {
            if (s.Index == 77) f.RootComplex.HostMemory.Write(f.Sentinels[2] + 100, [0x5A, 0xA5]);
        });
        var v = r.Violations.Single();
        Assert.That((v.Step, v.Invariant), Is.EqualTo((77L, FuzzInvariant.DmaIsolation)), r.ToText());
    }

    [Test]
    public void Vf_dma_with_the_iommu_domain_widened_over_sentinel_ram_is_caught()
    {
        // End to end: give every VF's domain the sentinel pages too; the VFs' bogus PRPs and MSI-X messages aimed
        // there are no longer refused, land in RAM, and the sentinel check reports it.
        var r = new DeviceFuzzer(DefaultModel(), new FuzzOptions { Iterations = 20000, Seed = 8, StopOnViolation = true, StepHook = (f, s) =>
        {
            if (s.Index != 0) return;
            foreach (var lane in f.Lanes.Skip(1))
                foreach (ulong sentinel in f.Sentinels)
                    lane.Domain!.Map(sentinel, sentinel, 8192);
        } }).Run();
        Assert.That(r.Violations, Is.Not.Empty, r.ToText());
        Assert.That(r.Violations[0].Invariant, Is.EqualTo(FuzzInvariant.DmaIsolation), r.ToText());
    }

    [Test]
    public void A_step_on_one_vf_that_changes_another_function_is_a_violation()
    {
        bool planted = false;
        long plantedAt = -1;
        var r = Run(400, 7, (f, s) =>
        {
            if (planted || s.Index < 50 || s.Lane == 0 || f.FunctionOf(f.Lanes[s.Lane == 1 ? 2 : 1]) is not { } other) return;
            // The Bus Master Enable bit of a neighbour flips during a step aimed at this VF.
            other.Config.Write(PciRegs.Command, 2, other.Config.Read16(PciRegs.Command) ^ 0x4u);
            planted = true;
            plantedAt = s.Index;
        });
        Assert.That(planted);
        var v = r.Violations.First(x => x.Invariant == FuzzInvariant.FunctionIsolation);
        Assert.That(v.Step, Is.EqualTo(plantedAt), r.ToText());
        Assert.That(v.Message, Does.Contain("config byte 0x004"));
    }

    [Test]
    public void Acknowledged_data_overwritten_behind_the_fuzzers_back_is_reported()
    {
        bool planted = false;
        var r = Run(8000, 11, (f, s) =>
        {
            var lane = f.Lanes[1];
            if (planted || s.Index < 1500 || lane.Dirty || lane.Driver is not { } d || lane.Nsid == 0) return;
            // A rogue writer: zeros over every acknowledged block of VF1, through its own driver.
            f.RootComplex.HostMemory.Write(lane.ScratchBase, new byte[lane.BlockSize]);
            for (int slot = 0; slot < FuzzLane.Slots; slot++)
                if (lane.Tags[slot] != 0) d.Write(lane.Nsid, lane.Lba(slot), 1, lane.ScratchBase);
            planted = true;
        });
        Assert.That(planted);
        Assert.That(r.Violations.Select(v => v.Invariant), Has.Member(FuzzInvariant.AcknowledgedData), r.ToText());
        Assert.That(r.Violations.All(v => v.Invariant == FuzzInvariant.AcknowledgedData), r.ToText());
    }

    [Test]
    public void An_exception_in_a_step_is_caught_counted_and_the_run_goes_on()
    {
        var r = Run(200, 12, (_, s) =>
        {
            if (s.Index == 33) throw new InvalidOperationException("planted");
        });
        Assert.That(r.Iterations, Is.EqualTo(200));
        var v = r.Violations.Single();
        Assert.That((v.Step, v.Invariant), Is.EqualTo((33L, FuzzInvariant.Exception)));
        Assert.That(v.Message, Does.Contain("InvalidOperationException: planted"));
    }

    [Test]
    public void Timed_runs_are_deterministic_too_and_resets_meet_commands_in_flight()
    {
        var a = Run(4000, 77, timed: true);
        var b = Run(4000, 77, timed: true);
        Assert.That(b.ToText(), Is.EqualTo(a.ToText()));
        Assert.That(a.ViolationCount, Is.Zero, a.ToText());
        // The point of timed mode: FLRs and VF disables hit commands the controller has fetched but not finished.
        Assert.That(a.ResetsWithCommandsInFlight, Is.GreaterThan(10), a.ToText());
        Assert.That(a.ReplayHint, Is.Null);
        Assert.That(Run(50, 77, (_, s) => { if (s.Index == 10) throw new InvalidOperationException("x"); }, timed: true).ReplayHint,
            Is.EqualTo("pcievirt fuzz --seed 77 --iterations 11 --timed"));
    }

    [Test]
    public void Dma_from_a_vf_after_its_flr_is_a_violation()
    {
        long plantedAt = -1;
        var r = Run(3000, 13, (f, s) =>
        {
            if (plantedAt >= 0 || s.Kind != FuzzStepKind.Flr || s.Lane == 0 || f.FunctionOf(f.Lanes[s.Lane]) is not { } vf) return;
            // The FLR cleared Bus Master Enable, which the fabric checks first; with it set again (as a host does
            // before its driver is back), a write left over from before the reset would reach the host.
            vf.Config.Write(PciRegs.Command, 2, 0x4);
            vf.Upstream!.MemoryWrite(vf.Bdf, f.Lanes[s.Lane].ScratchBase, [1, 2, 3, 4]);
            plantedAt = s.Index;
        });
        Assert.That(plantedAt, Is.GreaterThanOrEqualTo(0));
        var v = r.Violations.Single();
        Assert.That((v.Step, v.Invariant), Is.EqualTo((plantedAt, FuzzInvariant.DmaAfterReset)), r.ToText());
    }

    [Test]
    [CancelAfter(120_000)]
    public void Ci_sized_timed_run_is_clean()
    {
        var r = Run(100_000, 20261126, timed: true);
        Assert.That(r.ViolationCount, Is.Zero, r.ToText());
        Assert.That(r.ResetsWithCommandsInFlight, Is.Positive);
    }

    [Test]
    [CancelAfter(120_000)]
    public void Ci_sized_run_is_clean()
    {
        // CI size: the 200,000 steps issue 7 suggests (about 15 s on the 2-core build machine in Debug); 1,000,000 run locally (spec-notes/fuzzing.md).
        var r = Run(200_000, 20261125);
        Assert.That(r.ViolationCount, Is.Zero, r.ToText());
        Assert.That(r.Iterations, Is.EqualTo(200_000));
    }
}
