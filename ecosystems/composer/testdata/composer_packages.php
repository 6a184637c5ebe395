<?php
// Prints, as JSON, every version of one package that the repositories of a
// Composer project give, read with the installed Composer's own classes
// (the repository manager `composer show --all` uses), and the very verbose
// log of their reading (the "Importing"/"Skipped" lines of a VCS
// repository).
//
// Usage: php composer_packages.php AUTOLOAD PROJECT_DIR PACKAGE
// AUTOLOAD is Composer's autoloader: /usr/share/php/Composer/autoload.php
// for Debian's package, phar://.../composer.phar/vendor/autoload.php for
// the phar.
setlocale(LC_ALL, 'C');
error_reporting(-1);
require $argv[1];

use Composer\Factory;
use Composer\IO\BufferIO;
use Composer\Package\AliasPackage;
use Symfony\Component\Console\Output\OutputInterface;

chdir($argv[2]);
$io = new BufferIO('', OutputInterface::VERBOSITY_VERY_VERBOSE);
$composer = Factory::create($io, $argv[2] . '/composer.json', true);
$out = [];
foreach ($composer->getRepositoryManager()->getRepositories() as $repo) {
    foreach ($repo->findPackages($argv[3]) as $p) {
        $e = [
            'name' => $p->getName(),
            'version' => $p->getPrettyVersion(),
            'version_normalized' => $p->getVersion(),
            'source_reference' => $p->getSourceReference(),
            'dist_reference' => $p->getDistReference(),
            'default_branch' => $p->isDefaultBranch(),
            'alias_of' => $p instanceof AliasPackage ? $p->getAliasOf()->getPrettyVersion() : null,
        ];
        $out[] = $e;
    }
}
echo json_encode(['packages' => $out, 'log' => $io->getOutput()], JSON_UNESCAPED_SLASHES), "\n";
