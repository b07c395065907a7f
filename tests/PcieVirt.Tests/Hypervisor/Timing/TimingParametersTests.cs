using PcieVirt.Hypervisor.Timing;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Hypervisor.Timing;

public class TimingParametersTests
{
    [Test]
    public void Table_HasOneRowPerParameter_InEnumOrder_WithUniqueNames()
    {
        var all = Enum.GetValues<TimingParameter>();
        Assert.That(TimingParameters.Table, Has.Count.EqualTo(all.Length));
        for (int i = 0; i < all.Length; i++)
            Assert.That(TimingParameters.Table[i].Parameter, Is.EqualTo(all[i]), $"row {i}");
        Assert.That(TimingParameters.Table.Select(p => p.Name), Is.Unique);
    }

    [Test]
    public void Table_EveryDefault_IsValid_AndHasASource()
    {
        foreach (var p in TimingParameters.Table)
        {
            Assert.That(p.IsValid(p.Default), Is.True, $"{p.Name} default {p.Default} vs {p.RangeText}");
            Assert.That(p.Source, Is.Not.Empty, p.Name);
            Assert.That(p.Name, Does.Match("^[a-z0-9_]+$"), p.Name);
        }
    }

    [Test]
    public void Defaults_MatchLatencyAnchorsSection8()
    {
        // Spot checks against latency-anchors.md §8 (the reference's defaults).
        var t = new TimingParameters();
        Assert.Multiple(() =>
        {
            Assert.That(t[TimingParameter.VmExitRoundTrip], Is.EqualTo(650));
            Assert.That(t[TimingParameter.InstructionDecode], Is.EqualTo(450));
            Assert.That(t[TimingParameter.ExitToUser], Is.EqualTo(2_000));
            Assert.That(t[TimingParameter.KickExit], Is.EqualTo(1_000));
            Assert.That(t[TimingParameter.HostBlockStack], Is.EqualTo(3_400));
            Assert.That(t[TimingParameter.InterruptInjection], Is.EqualTo(1_400));
            Assert.That(t[TimingParameter.DmaReadRoundTrip], Is.EqualTo(560));
            Assert.That(t[TimingParameter.IotlbMissPenalty], Is.EqualTo(280));
            // The native stack of RE-1: 12.7 us bare metal - 8.9 us Optane = 3.8 us.
            Assert.That(t[TimingParameter.OsIoSubmit] + t[TimingParameter.OsIoComplete], Is.EqualTo(3_800));
            // Half a DMA read round trip (latency-anchors §4.3).
            Assert.That(t[TimingParameter.PostedWriteLatency], Is.EqualTo(t[TimingParameter.DmaReadRoundTrip] / 2));
        });
    }

    [Test]
    public void With_ChecksRangeAndPowerOfTwo_AndLeavesTheOriginal()
    {
        var d = new TimingParameters();
        var t = d.With(TimingParameter.VmExitRoundTrip, 700);
        Assert.That(t[TimingParameter.VmExitRoundTrip], Is.EqualTo(700));
        Assert.That(d[TimingParameter.VmExitRoundTrip], Is.EqualTo(650));
        Assert.That(t.Overrides(), Is.EqualTo(new[] { "vmexit_roundtrip_ns=700" }));
        Assert.That(() => d.With(TimingParameter.VmExitRoundTrip, 801), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("500..800"));
        Assert.That(() => d.With(TimingParameter.PcieWidth, 12), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("power of two"));
        Assert.That(d.With(TimingParameter.PcieWidth, 16)[TimingParameter.PcieWidth], Is.EqualTo(16));
    }

    [Test]
    public void NearestNames_FindsTheTypo()
    {
        Assert.That(TimingParameters.NearestNames("vmexit_round_trip_ns", 3)[0], Is.EqualTo("vmexit_roundtrip_ns"));
        Assert.That(TimingParameters.NearestNames("EOI_EXIT_NS", 1), Is.EqualTo(new[] { "eoi_exit_ns" }));
        Assert.That(TimingParameters.NearestNames("mps", 1), Is.EqualTo(new[] { "mps_bytes" }), "a name containing the query");
        Assert.That(TimingParameters.NearestNames("kick_ns", 1), Is.EqualTo(new[] { "kick_exit_ns" }));
        Assert.That(TimingParameters.NearestNames("iotlb", 2), Is.EqualTo(new[] { "iotlb_miss_penalty_ns", "iotlb_entries" }));
    }

    // ─────────────────────────── model files ───────────────────────────

    static PlatformModelResult Parse(string timingJson)
    {
        // The baseline model with a timing section added on its own lines, so positions are predictable.
        var json = Baseline.Json.TrimEnd();
        json = json[..^1].TrimEnd() + ",\n  \"timing\": " + timingJson + "\n}";
        return PlatformModel.Parse(json, "t.json");
    }

    static int LineOf(string json, string needle)
    {
        var full = Baseline.Json.TrimEnd();
        full = full[..^1].TrimEnd() + ",\n  \"timing\": " + json + "\n}";
        int at = full.IndexOf(needle, StringComparison.Ordinal);
        return full[..at].Count(c => c == '\n') + 1;
    }

    [Test]
    public void Model_WithoutTiming_GivesTheDefaults()
    {
        var model = PlatformModel.Parse(Baseline.Json, "t.json").GetModelOrThrow();
        Assert.That(model.Timing, Is.Empty);
        var t = TimingParameters.FromModel(model);
        foreach (var p in TimingParameters.Table) Assert.That(t[p.Parameter], Is.EqualTo(p.Default), p.Name);
        Assert.That(t.Overrides(), Is.Empty);
    }

    [Test]
    public void Model_TimingNullOrEmpty_GivesTheDefaults()
    {
        foreach (var timing in new[] { "null", "{}" })
        {
            var model = Parse(timing).GetModelOrThrow();
            Assert.That(model.Timing, Is.Empty, timing);
            Assert.That(TimingParameters.FromModel(model).Overrides(), Is.Empty, timing);
        }
    }

    [Test]
    public void Model_Timing_OverridesByName_OthersKeepDefaults()
    {
        const string timing = "{\n    \"vmexit_roundtrip_ns\": 700,\n    \"pcie_gen\": 4,\n    \"apicv\": 0\n  }";
        var r = Parse(timing);
        Assert.That(r.Success, Is.True, Baseline.Describe(r));
        var model = r.GetModelOrThrow();
        Assert.That(model.Timing.Select(s => (s.Name, s.Value)), Is.EqualTo(new[] { ("vmexit_roundtrip_ns", 700UL), ("pcie_gen", 4UL), ("apicv", 0UL) }));
        Assert.That(model.Timing[0].Path, Is.EqualTo("$.timing.vmexit_roundtrip_ns"));
        Assert.That(model.Timing[0].Line, Is.EqualTo(LineOf(timing, "\"vmexit_roundtrip_ns\"")));
        var t = TimingParameters.FromModel(model);
        Assert.That(t[TimingParameter.VmExitRoundTrip], Is.EqualTo(700));
        Assert.That(t[TimingParameter.PcieGeneration], Is.EqualTo(4));
        Assert.That(t.IsSet(TimingParameter.Apicv), Is.False);
        Assert.That(t[TimingParameter.KickExit], Is.EqualTo(1_000), "not given: default");
    }

    [TestCase("\"700\"", "expected a non-negative integer, found a string")]
    [TestCase("-1", "-1 is not a non-negative integer")]
    [TestCase("1.5", "1.5 is not a non-negative integer")]
    [TestCase("true", "expected a non-negative integer, found a boolean")]
    [TestCase("{}", "expected a non-negative integer, found an object")]
    public void Model_Timing_NonIntegerValue_IsAnErrorAtItsPath(string value, string message)
    {
        var r = Parse("{ \"vmexit_roundtrip_ns\": " + value + " }");
        Assert.That(r.Success, Is.False);
        Assert.That(r.Errors, Has.Count.EqualTo(1), Baseline.Describe(r));
        Assert.That(r.Errors[0].Path, Is.EqualTo("$.timing.vmexit_roundtrip_ns"));
        Assert.That(r.Errors[0].Message, Is.EqualTo(message));
        Assert.That(r.Errors[0].Line, Is.GreaterThan(0));
    }

    [Test]
    public void Model_Timing_NotAnObject_IsAnError()
    {
        var r = Parse("[1, 2]");
        Assert.That(r.Errors.Select(e => (e.Path, e.Message)),
            Is.EqualTo(new[] { ("$.timing", "expected an object of timing parameters, found an array") }), Baseline.Describe(r));
    }

    [Test]
    public void Model_Timing_DuplicateName_IsAnError()
    {
        var r = Parse("{ \"kick_exit_ns\": 900,\n \"kick_exit_ns\": 1100 }");
        Assert.That(r.Errors.Select(e => (e.Path, e.Message)),
            Is.EqualTo(new[] { ("$.timing.kick_exit_ns", "duplicate timing parameter 'kick_exit_ns'") }), Baseline.Describe(r));
    }

    [Test]
    public void FromModel_UnknownName_ListsTheNearestValidNames_WithPosition()
    {
        const string timing = "{\n    \"vmexit_round_trip_ns\": 700\n  }";
        var model = Parse(timing).GetModelOrThrow();
        var ex = Assert.Throws<PlatformModelException>(() => TimingParameters.FromModel(model))!;
        Assert.That(ex.Errors, Has.Count.EqualTo(1));
        var e = ex.Errors[0];
        Assert.That(e.Path, Is.EqualTo("$.timing.vmexit_round_trip_ns"));
        Assert.That(e.Message, Does.StartWith("unknown timing parameter 'vmexit_round_trip_ns'; nearest valid names: 'vmexit_roundtrip_ns'"));
        Assert.That((e.SourceName, e.Line, e.Column), Is.EqualTo(("t.json", LineOf(timing, "\"vmexit_round_trip_ns\""), 5)));
        Assert.That(e.ToString(), Does.StartWith($"t.json:{e.Line}:5: $.timing.vmexit_round_trip_ns: unknown timing parameter"));
    }

    [TestCase("vmexit_roundtrip_ns", 900UL, "vmexit_roundtrip_ns = 900 is out of range: must be 500..800")]
    [TestCase("apicv", 2UL, "apicv = 2 is out of range: must be 0..1")]
    [TestCase("pcie_width", 12UL, "pcie_width = 12 is out of range: must be a power of two in 1..32")]
    [TestCase("mps_bytes", 64UL, "mps_bytes = 64 is out of range: must be a power of two in 128..4096")]
    public void FromModel_OutOfRange_NamesTheRange(string name, ulong value, string message)
    {
        var model = Parse($"{{ \"{name}\": {value} }}").GetModelOrThrow();
        Assert.That(TimingParameters.TryFromModel(model, out var t, out var errors), Is.False);
        Assert.That(errors.Select(e => (e.Path, e.Message)), Is.EqualTo(new[] { ($"$.timing.{name}", message) }));
        Assert.That(errors[0].Line, Is.GreaterThan(0));
        Assert.That(t[TimingParameter.VmExitRoundTrip], Is.EqualTo(650), "on error: the defaults");
    }

    [Test]
    public void FromModel_ReportsEveryError_InSourceOrder()
    {
        var model = Parse("{ \"nope_ns\": 1,\n \"eoi_exit_ns\": 9999,\n \"kick_exit_ns\": 1200 }").GetModelOrThrow();
        Assert.That(TimingParameters.TryFromModel(model, out _, out var errors), Is.False);
        Assert.That(errors.Select(e => e.Path), Is.EqualTo(new[] { "$.timing.nope_ns", "$.timing.eoi_exit_ns" }));
        Assert.That(errors[0].Line, Is.LessThan(errors[1].Line));
    }
}
