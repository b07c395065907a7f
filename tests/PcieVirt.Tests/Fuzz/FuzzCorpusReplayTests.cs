using PcieVirt.FuzzTargets;
using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Fuzz;

/// <summary>
/// The coverage-guided targets (tools/PcieVirt.FuzzTargets) without AFL++: the committed corpus (seeds plus the
/// inputs AFL++ kept) replays clean, and the targets behave as the harness relies on.
/// </summary>
public class FuzzCorpusReplayTests
{
    static string Corpus => Path.Combine(ModelFiles.RepoRoot, "tools", "fuzz-corpus");

    [Test]
    public void CommittedCorpusReplaysWithoutFailures()
    {
        foreach (var t in FuzzTargets.Program.Targets)
            Assert.That(Directory.GetFiles(Path.Combine(Corpus, t)), Is.Not.Empty, $"corpus of {t}");
        Assert.That(FuzzTargets.Program.Replay(Corpus), Is.Empty);
    }

    [Test]
    public void ModelTargetReportsMalformedJsonAsErrorsNotExceptions()
    {
        var target = new ModelTarget();
        Assert.DoesNotThrow(() => target.Run("{\"hosts\": [ {"u8));
        Assert.DoesNotThrow(() => target.Run([0xFF, 0xFE, 0x00]));
    }

    [Test]
    public void ConfigTargetRebuildsAfterWritesSoInputsAreIndependent()
    {
        var target = new ConfigTarget();
        // Function 0, Command register (0x04, width 2), write 0x0006; then a read-only input.
        byte[] write = [0, 0x04, 0x10, 6, 0, 0, 0];
        byte[] read = [0, 0x00, 0x60, 0, 0, 0, 0];
        target.Run(read);
        int builds = target.Builds;
        target.Run(write);
        Assert.That(target.Builds, Is.EqualTo(builds + 1), "a writing input is followed by a fresh system");
        target.Run(read);
        Assert.That(target.Builds, Is.EqualTo(builds + 1), "a read-only input reuses the system");
    }

    [Test]
    public void NvmeTargetCompletesAValidIdentify()
    {
        var target = new NvmeTarget();
        var input = new byte[NvmeTarget.HeaderSize + 64];
        input[0] = 1;                 // admin queue
        input[2] = 0x06;              // Identify
        input[2 + 40] = 1;            // CDW10.CNS = 1 (controller)
        Assert.DoesNotThrow(() => target.Run(input));
    }
}
