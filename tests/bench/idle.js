// Holds one timer and nothing else (idle memory); the bench reads our RSS from outside.
setTimeout(() => {}, 3000);
