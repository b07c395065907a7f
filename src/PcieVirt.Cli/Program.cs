namespace PcieVirt.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("pcievirt: not yet wired");
        return 2;
    }
}
