using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Paths;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Hypervisor.Paths;

/// <summary>The sequence of steps one I/O goes through on each path, as the trace records them.</summary>
public class PathSequenceTests
{
    static readonly PlatformModel Model = PlatformModel.LoadDefault();

    /// <summary>The steps of the first measured I/O (until its completion is handled), as "track:component", in time order.</summary>
    static List<string> FirstIo(PathKind kind)
    {
        var trace = new PathTrace();
        PathBench.Run(kind, Model, new PathOptions
        {
            Workload = new WorkloadOptions { Pattern = WorkloadPattern.RandRead, BlockSize = 4096, IoDepth = 1, Ops = 2, Seed = 1 },
            Media = PathMedia.Optane,
            Trace = trace,
        });
        var spans = trace.Spans.Select((s, i) => (s, i)).OrderBy(x => x.s.StartNs).ThenBy(x => x.i).Select(x => x.s).ToList();
        // The first I/O ends with the second guest_stack step on the CPU the workload runs on (its completion path).
        var cpuTrack = spans[0].Track;
        int stacks = 0, end = 0;
        for (int i = 0; i < spans.Count; i++)
            if (spans[i].Track == cpuTrack && spans[i].Component == PcieVirt.Hypervisor.Timing.IoComponent.GuestStack && ++stacks == 2) { end = i; break; }
        return spans.Take(end + 1).Select(s => $"{s.Track}:{TraceEventWriter.Name(s.Component)}").ToList();
    }

    static void AssertSubsequence(List<string> actual, params string[] expected)
    {
        int at = 0;
        foreach (var step in actual)
            if (at < expected.Length && step == expected[at]) at++;
        Assert.That(at, Is.EqualTo(expected.Length),
            $"expected steps in this order: {string.Join(", ", expected)}\nbut the I/O went: {string.Join(", ", actual)}");
    }

    [Test]
    public void Bare_metal_os_doorbell_device_interrupt_os()
    {
        var steps = FirstIo(PathKind.BareMetal);
        AssertSubsequence(steps, "cpu0:guest_stack", "cpu0:doorbell", "link:link", "device:link", "device:controller", "device:media",
            "device:link", "interrupt:link", "cpu0:doorbell", "cpu0:guest_stack");
        Assert.That(steps.Where(s => s.Contains("vm_exit") || s.Contains("interrupt:interrupt")), Is.Empty);
    }

    [Test]
    public void Vf_doorbell_goes_straight_to_the_device_and_the_host_only_wakes_the_vcpu()
    {
        var steps = FirstIo(PathKind.Vf);
        AssertSubsequence(steps, "vcpu0:guest_stack", "vcpu0:doorbell", "link:link", "device:link", "device:controller", "device:media",
            "device:link", "interrupt:link", "interrupt:halt_wakeup", "vcpu0:doorbell", "vcpu0:guest_stack");
        Assert.That(steps.Where(s => s.Contains("vm_exit") || s.Contains("instruction_decode") || s.StartsWith("vmm") || s.StartsWith("iothread")), Is.Empty);
    }

    [Test]
    public void Paravirtual_kick_wakes_the_backend_which_goes_through_vmfs_and_the_host_stack()
    {
        var steps = FirstIo(PathKind.Paravirtual);
        AssertSubsequence(steps, "vcpu0:guest_stack", "vcpu0:kick", "link:backend_wakeup", "iothread:vmfs", "iothread:host_block_stack",
            "iothread:doorbell", "device:controller", "device:media", "iothread:doorbell", "interrupt:halt_wakeup", "interrupt:interrupt",
            "vcpu0:guest_stack");
        Assert.That(steps.Where(s => s.Contains("vm_exit") || s.Contains("instruction_decode")), Is.Empty);
    }

    [Test]
    public void Emulated_every_doorbell_exits_is_decoded_and_emulated_then_the_vmm_does_the_io()
    {
        var steps = FirstIo(PathKind.Emulated);
        AssertSubsequence(steps, "vcpu0:guest_stack",
            "vcpu0:vm_exit", "vcpu0:instruction_decode", "vcpu0:exit_to_user", "vcpu0:device_model",
            "vmm:device_model", "vmm:vmfs", "vmm:host_block_stack", "vmm:doorbell",
            "device:controller", "device:media", "vmm:doorbell", "interrupt:halt_wakeup", "interrupt:interrupt",
            "vcpu0:vm_exit", "vcpu0:instruction_decode", "vcpu0:exit_to_user", "vcpu0:device_model", "vcpu0:guest_stack");
        Assert.That(steps.Count(s => s == "vcpu0:vm_exit"), Is.EqualTo(2));
    }
}
